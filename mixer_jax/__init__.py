"""mixer_jax: MLP-Mixer and a locality-aware hybrid Mixer, in JAX/Flax."""
