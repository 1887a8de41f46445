"""edgebb: take a mobile CNN backbone from a Keras definition to a measured, verified artifact on an edge device.

The verbs are the Python API, each the same as its command:

>>> import edgebb
>>> edgebb.train("mobilenet_v2", "my_images/", "model.keras", width=0.5, size=160, epochs=15)
>>> result = edgebb.convert("model.keras", "out/", "my_images/", recipes="fp32,int8", formats="tflite,onnx")
>>> report = edgebb.bench(["out/"], runtimes=("litert", "onnxruntime"), threads=(1, 2))
>>> result = edgebb.sweep(["mobilenet_v2", "resnet50"], "my_images/", "sweep/")
>>> from edgebb.selection import Budget, Store
>>> with Store.open("sweep/") as store:
...     choice = edgebb.recommend(store.view()[0], Budget(target="cpu:1", max_latency_ms=20))

Importing edgebb is cheap: TensorFlow is imported only by the stages that build, train or convert models. See
toolkit/README.md for the packages and the line the data travels through them.
"""

import os as _os

# tensorflow-model-optimization (QAT) works only with Keras 2 (tf_keras); TensorFlow reads this variable once,
# at its own import, so it must be set before anything imports TensorFlow.
_os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

from edgebb.core.errors import CheckFailed, EdgebbError, InputError  # noqa: E402

__all__ = ["__version__", "EdgebbError", "InputError", "CheckFailed", "bench", "convert", "recommend", "sweep", "train"]

# verb -> the module that defines it; imported on first use
_VERBS = {"convert": "edgebb.conversion.pipeline", "bench": "edgebb.benchmark.harness",
          "train": "edgebb.training.loop", "sweep": "edgebb.selection.sweep",
          "recommend": "edgebb.selection.recommend"}


def __getattr__(name):
    if name in _VERBS:
        import importlib

        return getattr(importlib.import_module(_VERBS[name]), name)
    raise AttributeError(f"module 'edgebb' has no attribute {name!r}")
