"""Installs the pipeline's packages; also shipped to Beam/Dataflow workers (setup_file)."""
from setuptools import find_packages, setup

setup(
    name="rarespecies",
    version="0.1.0",
    description="TFX pipeline for wildlife species classification that keeps rare species in view",
    python_requires=">=3.10,<3.11",
    packages=find_packages(include=["pipeline", "pipeline.*", "components", "components.*",
                                    "trainer", "trainer.*", "serving", "serving.*"]),
    # The lock (requirements.lock) pins everything; these are only the direct imports.
    install_requires=["tfx==1.15.1", "tensorflow-addons==0.23.0", "pillow", "matplotlib",
                      "scikit-learn", "starlette", "uvicorn"],
    entry_points={"console_scripts": ["rarespecies=pipeline.cli:main"]},
)
