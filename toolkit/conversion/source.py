"""The float model a conversion starts from: a backbone built by name, or a saved Keras model with the edgebb
metadata `edgebb train` puts inside it."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.errors import InputError


@dataclass
class Source:
    """The float model to convert and what travels with it into the manifest."""

    name: str
    model: Any
    config: dict
    preprocessing: Any  # edgebb.models.Preprocessing
    labels: list[str] | None
    macs: int
    params: int
    qat: bool = False  # a quantization-aware model (fake quantization inside): only int8-qat can be made from it
    meta: dict | None = None  # the saved model's edgebb metadata, when it has some

    @property
    def random_weights(self) -> bool:
        return self.config.get("weights") == "random"


def looks_like_path(source: str) -> bool:
    """Whether `source` names a model file rather than a backbone. A backbone's bare name stays the backbone where
    a folder of that name is not a SavedModel: `edgebb convert mobilenet_v2 -o mobilenet_v2` run a second time
    finds its own output there (./mobilenet_v2 names the folder)."""
    if os.path.sep in source or os.path.splitext(source)[1]:
        return True
    if not os.path.exists(source):
        return False
    if os.path.isdir(source) and not os.path.exists(os.path.join(source, "saved_model.pb")):
        from ..models import list_models

        return source not in list_models()
    return True


def check_source(source: str, width: float, size: int) -> dict | None:
    """Check `source` before any work: a known backbone with a width and size it allows, or a readable Keras model
    file (.keras, .h5) or SavedModel folder. Returns the file's edgebb metadata ({} without any; None for a
    backbone). Raises InputError naming the problem."""
    from ..build.meta import read_meta
    from ..core.formats import FORMATS

    if not looks_like_path(source):
        from ..models import get_spec

        spec = get_spec(source)
        spec.check_width(width)
        spec.check_size(size)
        return None
    keras = FORMATS["keras"]
    if os.path.isdir(source):
        if not os.path.exists(os.path.join(source, "saved_model.pb")):
            raise InputError(f"{source} is a folder but not a SavedModel (no saved_model.pb)")
    elif not os.path.exists(source):
        raise InputError(f"model file not found: {source}")
    elif not source.lower().endswith(keras.suffixes):
        raise InputError(f"convert reads {', '.join(keras.suffixes)} files or a SavedModel folder; {source} is not "
                         "one (bench an artifact that is already converted)")
    else:
        problem = keras.problem(source)
        if problem:
            raise InputError(f"{source}: {problem}")
    meta = read_meta(source) or {}
    built = meta.get("edgebb_build") or {}
    if built.get("features") or built.get("include_top") is False:
        what = "feature maps (edgebb build --features)" if built.get("features") else "the bare trunk (--no-top)"
        raise InputError(f"{source} outputs {what}; convert verifies a classifier by its top-1 agreement with the "
                         "float model, so it cannot verify this one: build it with its classifier")
    return meta


def artifact_stem(source: str, width: float, size: int, meta: dict | None) -> str:
    """The name the artifacts of `source` start with: mobilenet_v2, mobilenet_v2_0.35, mobilenet_v2_0.35_160 for a
    backbone (width and size named only when not the default); the file's name for a model file (a QAT model's
    `_qat` dropped, so model_qat.h5 makes model_int8-qat.tflite beside model.keras's model_int8.tflite)."""
    if meta is None:
        return "_".join([source] + ([f"{width:g}"] if width != 1.0 else []) + ([str(size)] if size != 224 else []))
    name = os.path.splitext(os.path.basename(source.rstrip(os.sep)))[0]
    return name[:-4] if meta.get("qat") and name.endswith("_qat") else name


def backbone_config(source: str, *, width: float, size: int, classes: int | None, weights: str | None, seed: int,
                    labels: list[str] | None) -> dict:
    """The manifest's `source` for backbone `source` built with these options."""
    return {"kind": "backbone", "backbone": source, "width": width, "input_size": size,
            "num_classes": classes or (len(labels) if labels else 1000), "weights": weights or "random", "seed": seed}


def expected_source(source: str, meta: dict | None, *, width: float = 1.0, size: int = 224, classes: int | None = None,
                    weights: str | None = None, seed: int = 0, labels: list[str] | None = None) -> dict:
    """What the manifest will say of `source` ({"source": ..., "preprocessing": ..., "labels": ...}) as far as it
    is known before the model is built or loaded (`meta` as check_source returned it): all of it for a backbone;
    for a model file its path and metadata, the input size, preprocessing and labels waiting for the model."""
    if meta is None:
        from ..models import preprocessing_for

        config = backbone_config(source, width=width, size=size, classes=classes, weights=weights, seed=seed,
                                 labels=labels)
        return {"source": config, "preprocessing": preprocessing_for(source, size).to_dict(),
                "labels": labels if labels and len(labels) == config["num_classes"] else None}
    return {"source": {"kind": "file", "path": os.path.abspath(source), "backbone": meta.get("backbone"),
                       "qat": bool(meta.get("qat"))}}


def resolve_source(source: str, *, width: float = 1.0, size: int = 224, classes: int | None = None,
                   weights: str | None = None, seed: int = 0, labels: list[str] | None = None) -> Source:
    """Build backbone `source`, or load the saved Keras model at path `source` with its edgebb metadata."""
    from ..build.meta import read_meta
    from ..build.profile import profile_model
    from ..core.tf import load_tensorflow
    from ..models import Preprocessing, create_model, get_spec, load_model, preprocessing_for

    is_path = looks_like_path(source)
    if not is_path:
        get_spec(source)  # raises with close matches
    load_tensorflow()
    import tf_keras as keras

    meta = None
    if not is_path:
        keras.utils.set_random_seed(seed)  # random weights are part of what --seed pins down
        config = backbone_config(source, width=width, size=size, classes=classes, weights=weights, seed=seed,
                                 labels=labels)
        model = create_model(source, width=width, input_size=size, num_classes=config["num_classes"],
                             weights=weights)
        pp = preprocessing_for(source, size)
        name = artifact_stem(source, width, size, None)
        labels = labels if labels and len(labels) == config["num_classes"] else None
    else:
        meta = read_meta(source) or {}
        if meta.get("qat"):
            from ..training.qat import scope

            with scope():
                model = load_model(source)
        else:
            model = load_model(source)
        if len(model.inputs) != 1:
            raise InputError(f"{source}: edgebb converts single-input image models; this one has "
                             f"{len(model.inputs)} inputs")
        shape = tuple(model.input.shape[1:])
        if len(shape) != 3 or shape[-1] != 3 or shape[0] is None or shape[0] != shape[1]:
            raise InputError(f"{source}: the model input must be a fixed square RGB image (H, H, 3); "
                             f"it is {shape}")
        backbone = meta.get("backbone", {}).get("name")
        if "preprocessing" in meta:
            pp = Preprocessing.from_dict(meta["preprocessing"], size=shape[0])
        elif backbone:
            pp = preprocessing_for(backbone, shape[0])
        else:
            raise InputError(f"{source} carries no edgebb preprocessing; save it with edgebb train, or "
                             "convert a backbone by name")
        labels = meta.get("labels") or labels
        config = {"kind": "file", "path": os.path.abspath(source), "sha256": sha256_file(source),
                  "backbone": meta.get("backbone"), "input_size": shape[0], "qat": bool(meta.get("qat"))}
        if "edgebb_build" in meta:  # an untrained model from edgebb build: the weights it holds (a trained
            config["weights"] = meta.get("weights")  # model's `weights` say what its training started from)
        name = artifact_stem(source, width, size, meta)
        n_out = int(np.prod(model.output.shape[1:]))
        labels = labels if labels and len(labels) == n_out else None
    profile = profile_model(model)
    return Source(name=name, model=model, config=config, preprocessing=pp, labels=labels,
                  macs=profile.macs, params=profile.params_total, qat=bool(config.get("qat")), meta=meta)


def sha256_file(path: str) -> str | None:
    """The sha256 of a file's bytes (None for a folder, such as a SavedModel)."""
    if os.path.isdir(path):
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
