"""mixer_jax: MLP-Mixer and a locality-aware hybrid Mixer, in JAX/Flax."""

import setuptools

setuptools.setup(
    name='mixer_jax',
    version='0.1.0',
    description='MLP-Mixer and a locality-aware hybrid Mixer on small data.',
    packages=setuptools.find_packages(include=['mixer_jax', 'mixer_jax.*']),
    python_requires='>=3.10',
    # Bounds known to work together (installed and tested here, 2026-11):
    # jax 0.10 needs flax >= 0.12.7 for flax.jax_utils.replicate.
    install_requires=[
        'jax>=0.10,<0.11',
        'flax>=0.12.7,<0.13',
        'optax>=0.2.8,<0.3',
        'orbax-checkpoint>=0.12.8,<0.13',
        'clu>=0.0.12,<0.1',
        'ml-collections>=1.1,<2',
        'tensorflow-cpu>=2.21,<2.22',
        'tensorflow-datasets>=4.9.10,<4.10',
        'tensorboard>=2.21,<3',  # clu's writers need it; tensorflow-cpu lacks it.
        # tfds 4.9.10 needs it to prepare datasets but does not declare it.
        'importlib_resources>=6',
        'absl-py>=2',
        'matplotlib>=3.8,<4',  # The experiment report's and benchmarks' plots.
        'scipy>=1.11',  # The report's confidence intervals.
        'numpy>=2',
    ],
    extras_require={
        'test': ['pytest>=8', 'pytest-xdist>=3'],
        # The PyTorch peer in benchmarks/; never needed to train.
        'bench': ['torch==2.13.0'],
    },
)
