"""CKA similarity between layers and models (linear and RBF, minibatch unbiased HSIC)."""
