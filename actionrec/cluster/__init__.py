"""Several processes and machines: horovod (data-parallel training) and SLURM allocations."""
