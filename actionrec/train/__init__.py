"""Training: the training loop and its recipe, checkpoints and resume, the failure messages, the pretraining of backbones."""
