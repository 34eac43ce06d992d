import re
import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py


class BuildWithConfig(build_py):
    """Copy the hydra configs (``config/``) into the built package as ``gcaf_fairseq/config``,
    so a non-editable install finds them (``gcaf_fairseq.resources.config_dir``)."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / "gcaf_fairseq" / "config"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(Path(__file__).parent / "config", target)


# the version's one home is gcaf_fairseq/__init__.py (read as text, not imported, at build time)
VERSION = re.search(r'^__version__ = "([^"]+)"', (Path(__file__).parent / "gcaf_fairseq" / "__init__.py").read_text(), re.M)[1]

setup(
    name="gcaf-fairseq",
    version=VERSION,
    description="Context-aware and generative context-aware fine-tuning of wav2vec2 as a fairseq plugin",
    license="MIT",
    python_requires=">=3.10",
    # gcaf_fairseq: the plugin and the tools; gcaf_demo: the demo, its corpora and tiny models
    # (outside the plugin's --user-dir).
    packages=find_packages(include=["gcaf_fairseq", "gcaf_fairseq.*", "gcaf_demo", "gcaf_demo.*"]),
    cmdclass={"build_py": BuildWithConfig},
    # The stack (torch 2.13.0, fairseq-fixed 0.12.3.1, ...) is installed by
    # scripts/setup_env.sh: fairseq-fixed must be installed without its dependencies.
    install_requires=["numpy", "tqdm"],
    entry_points={
        "console_scripts": [
            "gcaf-embed-context=gcaf_fairseq.cli.embed_context:main",
            "gcaf-context-texts=gcaf_fairseq.cli.context_texts:main",
            "gcaf-demo=gcaf_demo.cli.demo:main",
            "gcaf-build-lexicon=gcaf_fairseq.cli.build_lexicon:main",
            "gcaf-predict-labels=gcaf_fairseq.cli.predict_labels:main",
            "gcaf-score=gcaf_fairseq.cli.score:main",
            "gcaf-prepare-librispeech=gcaf_fairseq.cli.prepare_librispeech:main",
            "gcaf-prepare-slue=gcaf_fairseq.cli.prepare_slue:main",
            "gcaf-generate-context=gcaf_fairseq.cli.generate_context:main",
            "gcaf-merge-generations=gcaf_fairseq.cli.merge_generations:main",
            "gcaf-rouge=gcaf_fairseq.cli.rouge:main",
            "gcaf-collect-results=gcaf_fairseq.cli.collect_results:main",
            "gcaf-make-homophone-corpus=gcaf_demo.cli.make_homophone_corpus:main",
            "gcaf-make-smoke-models=gcaf_demo.cli.make_smoke_models:main",
        ]
    },
)
