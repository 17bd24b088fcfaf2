"""Adversarial robustness: accuracy under untargeted L-inf FGSM and PGD."""
