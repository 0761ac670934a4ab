"""Installs the pipeline's packages; also shipped to Beam/Dataflow workers (setup_file)."""
from setuptools import find_packages, setup

setup(
    name="rarespecies",
    version="0.1.0",
    description="TFX pipeline for wildlife species classification that keeps rare species in view",
    python_requires=">=3.10,<3.11",
    packages=find_packages(include=["schema", "components", "components.*", "trainer",
                                    "pipeline", "pipeline.*", "serving"]),
    package_data={"schema": ["schema.pbtxt"]},
    # The lock (requirements.lock) pins everything; these are what the code imports directly
    # (scikit-learn is for the tests only).
    install_requires=["tfx==1.15.1", "tensorflow-addons==0.23.0", "kfp>=1.8.22,<2",
                      "google-crc32c", "pillow", "matplotlib", "psutil", "pyyaml", "requests",
                      "starlette", "uvicorn"],
    entry_points={"console_scripts": ["rarespecies=pipeline.cli:main"]},
)
