"""DVC stage entry points: each reads params.yaml, calls library code in ``actionrec``, writes its outs."""
