"""The ceiling of any 0-bpp sRGB -> raw method on INTEL-TAU: the unknown illuminant.

    .venv/bin/python experiments/prior_illuminant_ceiling.py \\
        --test_root runs/prior_data/test/darktable_default [--camera imx135] \\
        [--inteltau ../shared/data/real/inteltau] [--train 1-14]

A renderer white-balances each image with its illuminant; the raw keeps it. A
metadata-free method sees only the balanced sRGB, so at best it reproduces the raw up to
the illuminant it must guess. This script gives that best case: the ground-truth test
raw re-lit from its own illuminant (the INTEL-TAU metadata, G = 1) to the mean
illuminant of the train images, `raw * mean_train / own` per channel: every pixel
exact except for the illuminant. Its PSNR against the raw is what a perfect
de-renderer that guesses the train-mean illuminant scores; a method can only pass it by
inferring the illuminant from the sRGB content. The "half-resolution ceiling" is the
best an assembled raw (half resolution, bilinearly up-sampled) can score: the true raw
2x2-averaged and up-sampled the same way. It also prints every image's
illuminant and how far the test illuminants lie from the train ones.

With `--workdir W --references_root R` (a trained PriorRAW workdir: encoder.msgpack,
prior.npz; R the PATH-like train roots of its references, `--match`), it also checks
whether mixing illuminants inside the prior limits the assembly: every half-resolution
reference pixel of the prior's reference images is assigned to its nearest prior entry
(the prior's own keys), and each entry's raw value is re-averaged (the `--group_size`
most similar members) either as it is ("as captured") or white-balanced by its own image's
illuminant ("balanced"). Both are assembled for the test images (sRGB of `--test_root`)
and scored with the per-image channel-gain oracle (`prior.diagnostics.gain_oracle`):
if "balanced" is far above "as captured", references lit differently disagree on the
raw of one sRGB colour and the softmax mixes them.
"""

from __future__ import annotations

import json
import pathlib

import jax.numpy as jnp
import numpy as np
from absl import app, flags

from r2lcm_jax.data.nus import find_pairs, load_pair
from r2lcm_jax.errors import ConfigError
from r2lcm_jax.prior.diagnostics import psnr_np
from r2lcm_jax.prior.encoder import half_resolution
from r2lcm_jax.prior.reconstructor import upsample2

_TEST = flags.DEFINE_string("test_root", None, "NUS-layout root holding the INTEL-TAU test split.")
_CAMERA = flags.DEFINE_string("camera", "imx135", "Camera folder of the test split.")
_INTELTAU = flags.DEFINE_string("inteltau", "../shared/data/real/inteltau", "INTEL-TAU folder.")
_TRAIN = flags.DEFINE_string("train", "1-14", "Train image numbers, first-last.")
_WORK = flags.DEFINE_string("workdir", None, "PriorRAW workdir (encoder.msgpack, prior.npz).")
_REFS = flags.DEFINE_string("references_root", None, "Train roots of the prior's references.")
_MATCH = flags.DEFINE_string("match", "IMX135", "Name filter of the reference roots.")
_GROUP = flags.DEFINE_integer("group_size", 200, "Members averaged per prior entry.")


def _assembly_check(folder: pathlib.Path, test: list) -> None:
  from r2lcm_jax.prior import stages
  from r2lcm_jax.prior.compression import encode_references, group_nearest
  from r2lcm_jax.prior.diagnostics import gain_oracle
  from r2lcm_jax.prior.inference import assemble_image
  from r2lcm_jax.prior.kmeans import assign_clusters
  from r2lcm_jax.prior.model_file import load_model
  from r2lcm_jax.prior.prior_file import load_prior

  work = pathlib.Path(_WORK.value)
  model, prior = load_model(work / "encoder.msgpack"), load_prior(work / "prior.npz")
  names = prior.info["images"]
  pool = stages.dataset_pairs(_REFS.value, "train", None, match=_MATCH.value)
  refs = []  # the prior's reference images, in its order (a name may repeat across roots)
  for p in pool:
    if names and p.name == names[0]:
      refs.append(p)
      names = names[1:]
  if names:
    raise ConfigError(f"{len(names)} reference images of the prior not found in --references_root")
  feats, _, raw = encode_references(model.encoder, model.encoder_params,
                                    (load_pair(p) for p in refs))
  per_image = feats.shape[0] // len(refs)
  ill = np.repeat(np.stack([_illuminant(folder, int(p.name.split("field_")[1][:3]))
                            for p in refs]), per_image, axis=0)
  assign, score = (np.asarray(a) for a in assign_clusters(feats, prior.features))
  k = prior.features.shape[0]
  rows = {"as captured": raw, "balanced": raw / ill}
  for name, values in rows.items():
    f, v = group_nearest(assign, score, k, _GROUP.value, feats, values)
    out = []
    for pair, _own in test:
      target, srgb = load_pair(pair)
      pred = assemble_image(model, srgb, f, v)
      out.append(gain_oracle(np.clip(pred, 0, None), target)[0])
    print(f"assembly with {len(f)} entries, raw {name}: gain-oracle PSNR {np.mean(out):.2f} dB "
          f"(per image {', '.join(f'{x:.2f}' for x in out)})")


def _illuminant(folder: pathlib.Path, n: int) -> np.ndarray:
  path = folder / f"S_IMX135_BLCCSC_field_{n:03d}_sensorname_sony_imx135_metadata.json"
  v = np.asarray(json.loads(path.read_text())["illuminant_color_raw"], np.float64)
  return v / v[1]


def main(argv: list[str]) -> None:
  del argv
  if not _TEST.value:
    raise ConfigError("--test_root is required")
  folder = pathlib.Path(_INTELTAU.value)
  first, last = (int(v) for v in _TRAIN.value.split("-"))
  train = np.stack([_illuminant(folder, n) for n in range(first, last + 1)])
  mean, std = train.mean(0), train.std(0)
  print(f"train illuminants (R/G, B/G): mean {mean[0]:.3f}, {mean[2]:.3f}; "
        f"std {std[0]:.3f}, {std[2]:.3f}")
  scores, test = [], []
  for pair in find_pairs(_TEST.value, "test", _CAMERA.value):
    n = int(pair.name.split("field_")[1][:3])
    own = _illuminant(folder, n)
    raw, _ = load_pair(pair)
    ceiling = psnr_np(np.clip(raw * (mean / own), 0, 1), raw)
    z = (own - mean)[[0, 2]] / std[[0, 2]]
    h, w = (raw.shape[0] // 2) * 2, (raw.shape[1] // 2) * 2
    half = upsample2(half_resolution(jnp.asarray(raw[None, :h, :w])))[0]
    scores.append(ceiling)
    test.append((pair, own))
    print(f"{pair.name}: illuminant R/G {own[0]:.3f} B/G {own[2]:.3f} "
          f"({z[0]:+.1f} / {z[1]:+.1f} train std); mean-illuminant ceiling {ceiling:.2f} dB; "
          f"half-resolution ceiling {psnr_np(np.asarray(half), raw[:h, :w]):.2f} dB")
  print(f"mean ceiling over {len(scores)} images: {np.mean(scores):.2f} dB")
  if _WORK.value:
    if not _REFS.value:
      raise ConfigError("--workdir needs --references_root")
    _assembly_check(folder, test)


if __name__ == "__main__":
  app.run(main)
