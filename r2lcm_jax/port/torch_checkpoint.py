"""Read official PyTorch checkpoints (with or without torch) and port them.

`load_official_state_dict(path)` accepts a `torch.save` file holding either a state_dict
or the official training dict (`{"epoch", "state_dict", ...}`), strips a DataParallel
`module.` prefix and returns the used modules' arrays (the dead inherited Cheng2020
modules and the GaussianConditional buffers are dropped). Without torch installed it reads
the zip-pickle format itself: `<name>/data.pkl` is unpickled with a restricted Unpickler
(whitelisted globals only, tensors rebuilt from the `<name>/data/<key>` storages with
numpy); anything unexpected raises `CheckpointError`.

`port_state_dict(sd, cfg)` maps official keys to our parameter tree:

* `g_a_list.0 -> g_a`, `g_a_list.1 -> h_a`, `g_s_list.0 -> g_s`, `g_s_list.1 -> h_s`,
  `{g_mask,context_prediction,entropy_parameters}_list.{0,1} -> {main,hyper}/<name>`;
  the Sequential index i -> `layers_{i}`; `name.k` (ModuleList / Sequential child) ->
  `name_k`, except the single-conv containers of a sub-pixel conv (`subpel_conv.0`,
  `upsample.0`, `g_s_list.0.9.0`) whose conv is the SubpelConv itself.
* Conv2d weight OIHW -> kernel HWIO; ConvTranspose2d weight [in, out, k, k] ->
  kernel `W.transpose(2, 3, 0, 1)[::-1, ::-1]` (a flipped cross-correlation kernel);
  PixelShuffle channel order is kept (our `pixel_shuffle` uses PyTorch's order).
* GDN `beta` / `gamma` are kept in their stored (reparametrised) form, which is also our
  parametrisation; the `*_reparam.pedestal` / `bound` buffers are constants of that
  parametrisation (2**-36 and the bounds in `layers/gdn.py`) and are not stored.
"""

from __future__ import annotations

import argparse
import collections
import os
import pickle
import zipfile
from typing import Any

import numpy as np

from r2lcm_jax.errors import CheckpointError
from r2lcm_jax.models.config import R2LCMConfig

__all__ = ["load_official_state_dict", "port_state_dict", "USED_PREFIXES"]

USED_PREFIXES = {
  "g_a_list.0": ("g_a",),
  "g_a_list.1": ("h_a",),
  "g_s_list.0": ("g_s",),
  "g_s_list.1": ("h_s",),
  "g_mask_list.0": ("main", "g_mask"),
  "g_mask_list.1": ("hyper", "g_mask"),
  "context_prediction_list.0": ("main", "context_prediction"),
  "context_prediction_list.1": ("hyper", "context_prediction"),
  "entropy_parameters_list.0": ("main", "entropy_parameters"),
  "entropy_parameters_list.1": ("hyper", "entropy_parameters"),
}

_STORAGE_DTYPES = {
  "FloatStorage": np.float32,
  "DoubleStorage": np.float64,
  "HalfStorage": np.float16,
  "BFloat16Storage": None,  # handled specially
  "IntStorage": np.int32,
  "LongStorage": np.int64,
  "ShortStorage": np.int16,
  "CharStorage": np.int8,
  "ByteStorage": np.uint8,
  "BoolStorage": np.bool_,
}


class _StorageType:
  def __init__(self, name: str):
    self.name = name


class _Storage:
  def __init__(self, data: np.ndarray):
    self.data = data


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
  if not isinstance(storage, _Storage):
    raise CheckpointError("tensor without a storage in checkpoint")
  data = storage.data
  itemsize = data.dtype.itemsize
  size = tuple(int(v) for v in size)
  stride = tuple(int(v) for v in stride)
  if size and any(v < 0 for v in size + stride):
    raise CheckpointError("negative tensor size/stride in checkpoint")
  extent = storage_offset + sum((n - 1) * st for n, st in zip(size, stride, strict=True)) + 1
  if all(n > 0 for n in size) and extent > data.size:
    raise CheckpointError("tensor extends past its storage")
  view = np.lib.stride_tricks.as_strided(
    data[storage_offset:], shape=size, strides=tuple(st * itemsize for st in stride)
  )
  return np.array(view)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
  return data


class _Namespace(argparse.Namespace):
  pass


_SAFE_GLOBALS = {
  ("collections", "OrderedDict"): collections.OrderedDict,
  ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
  ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
  ("argparse", "Namespace"): _Namespace,
}


class _Unpickler(pickle.Unpickler):
  def __init__(self, fh, zf: zipfile.ZipFile, root: str, path: str):
    super().__init__(fh)
    self._zf, self._root, self._path = zf, root, path
    self._cache: dict[str, _Storage] = {}

  def find_class(self, module: str, name: str) -> Any:
    if (module, name) in _SAFE_GLOBALS:
      return _SAFE_GLOBALS[(module, name)]
    if module == "torch" and name in _STORAGE_DTYPES:
      return _StorageType(name)
    raise CheckpointError(f"{self._path}: unsupported object {module}.{name} in checkpoint")

  def persistent_load(self, pid):
    if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
      raise CheckpointError(f"{self._path}: unexpected persistent id {pid!r}")
    _, stype, key, _location, numel = pid
    if not isinstance(stype, _StorageType):
      raise CheckpointError(f"{self._path}: unexpected storage type {stype!r}")
    if key in self._cache:
      return self._cache[key]
    try:
      raw = self._zf.read(f"{self._root}/data/{key}")
    except KeyError as e:
      raise CheckpointError(f"{self._path}: missing storage data/{key}") from e
    if stype.name == "BFloat16Storage":
      u16 = np.frombuffer(raw, "<u2")
      data = (u16.astype(np.uint32) << 16).view(np.float32)
    else:
      data = np.frombuffer(raw, np.dtype(_STORAGE_DTYPES[stype.name]).newbyteorder("<"))
    if data.size < int(numel):
      raise CheckpointError(f"{self._path}: storage data/{key} is truncated")
    st = _Storage(data.astype(data.dtype.newbyteorder("=")))
    self._cache[key] = st
    return st


def _read_zip_pickle(path: str) -> Any:
  try:
    zf = zipfile.ZipFile(path)
  except (zipfile.BadZipFile, OSError) as e:
    raise CheckpointError(f"{path}: not a torch.save zip checkpoint ({e})") from e
  with zf:
    pkls = [n for n in zf.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
    if len(pkls) != 1:
      raise CheckpointError(f"{path}: expected one data.pkl in the archive")
    root = pkls[0][: -len("data.pkl")].rstrip("/")
    order = f"{root}/byteorder" if root else "byteorder"
    if order in zf.namelist() and zf.read(order).strip() not in (b"little", b""):
      raise CheckpointError(f"{path}: big-endian checkpoints are not supported")
    try:
      with zf.open(pkls[0]) as fh:
        return _Unpickler(fh, zf, root, path).load()
    except CheckpointError:
      raise
    except Exception as e:  # corrupted pickle stream / zip member
      raise CheckpointError(f"{path}: corrupted checkpoint ({type(e).__name__}: {e})") from e


def _read_with_torch(path: str) -> Any:
  import torch  # optional dependency

  try:
    obj = torch.load(path, map_location="cpu", weights_only=False)
  except Exception as e:
    raise CheckpointError(f"{path}: torch.load failed ({type(e).__name__}: {e})") from e

  def conv(v):
    if isinstance(v, torch.Tensor):
      return v.detach().cpu().float().numpy() if v.is_floating_point() else v.numpy()
    return v

  if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
    obj = dict(obj)
    obj["state_dict"] = {k: conv(v) for k, v in obj["state_dict"].items()}
  elif isinstance(obj, dict):
    obj = {k: conv(v) for k, v in obj.items()}
  return obj


def load_official_state_dict(path: str | os.PathLike, *, use_torch: bool | None = None
                             ) -> dict[str, np.ndarray]:
  """Reads an official checkpoint and returns its used-module arrays.

  Args:
    path: `.pth` / `.pth.tar` written by `torch.save`.
    use_torch: True = torch.load, False = built-in reader, None = torch if importable.

  Returns:
    {official key without `module.`: numpy array} for the keys under `USED_PREFIXES`.

  Raises:
    CheckpointError: missing, unreadable, corrupted or not an R2LCM checkpoint.
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise CheckpointError(f"{path}: checkpoint not found")
  if use_torch is None:
    try:
      import torch  # noqa: F401

      use_torch = True
    except ImportError:
      use_torch = False
  obj = _read_with_torch(path) if use_torch else _read_zip_pickle(path)
  if isinstance(obj, dict) and "state_dict" in obj:
    obj = obj["state_dict"]
  if not isinstance(obj, dict):
    raise CheckpointError(f"{path}: no state_dict found")
  out = {}
  for key, value in obj.items():
    if not isinstance(key, str):
      raise CheckpointError(f"{path}: non-string state_dict key {key!r}")
    k = key[len("module."):] if key.startswith("module.") else key
    if any(k.startswith(p + ".") for p in USED_PREFIXES):
      if not isinstance(value, np.ndarray):
        raise CheckpointError(f"{path}: {k} is not a tensor")
      out[k] = value
  if not out:
    raise CheckpointError(f"{path}: no R2LCM journal4 parameters in the state_dict")
  return out


def _target(key: str) -> tuple[tuple[str, ...], str] | None:
  """Official key -> (our module path, leaf kind) or None for a GDN constant buffer."""
  prefix = next(p for p in USED_PREFIXES if key.startswith(p + "."))
  rest = key[len(prefix) + 1:].split(".")
  if "beta_reparam" in rest or "gamma_reparam" in rest:
    return None
  path = list(USED_PREFIXES[prefix]) + [f"layers_{int(rest[0])}"]
  toks = rest[1:-1]
  leaf = rest[-1]
  i = 0
  while i < len(toks):
    tok = toks[i]
    if tok.isdigit():
      if i == 0 or toks[i - 1] in ("subpel_conv", "upsample"):
        i += 1  # the conv of a sub-pixel Sequential is our SubpelConv itself
        continue
      path[-1] = f"{path[-1]}_{tok}"
    elif tok == "deconv":
      pass  # our MaskedDeconv owns the ConvTranspose kernel directly
    else:
      path.append(tok)
    i += 1
  return tuple(path), leaf


def _convert(key: str, leaf: str, value: np.ndarray) -> tuple[str, np.ndarray]:
  v = np.asarray(value, np.float32)
  if leaf == "weight":
    if v.ndim != 4:
      raise CheckpointError(f"{key}: expected a 4-D conv weight, got shape {v.shape}")
    if ".deconv." in key:  # ConvTranspose2d [in, out, kh, kw] -> flipped HWIO
      return "kernel", np.ascontiguousarray(v.transpose(2, 3, 0, 1)[::-1, ::-1])
    return "kernel", np.ascontiguousarray(v.transpose(2, 3, 1, 0))
  if leaf in ("bias", "beta", "gamma"):
    return leaf, v
  raise CheckpointError(f"{key}: unexpected parameter kind {leaf!r}")


def port_state_dict(sd: dict[str, np.ndarray], cfg: R2LCMConfig | None = None) -> dict:
  """Converts an official state_dict (used modules) to our "params" tree.

  Args:
    sd: {official key: array} as returned by `load_official_state_dict` (a `module.`
      prefix is tolerated; keys outside the used modules are ignored).
    cfg: the configuration the weights are for; when given, shapes are checked against
      a freshly initialised model's tree (`jax.eval_shape`, nothing compiled).

  Returns:
    Nested dict of float32 numpy arrays (the value of the "params" collection).

  Raises:
    CheckpointError: missing / extra / mis-shaped parameters.
  """
  params: dict = {}
  for key, value in sd.items():
    k = key[len("module."):] if key.startswith("module.") else key
    if not any(k.startswith(p + ".") for p in USED_PREFIXES):
      continue
    tgt = _target(k)
    if tgt is None:
      continue
    path, leaf = tgt
    name, arr = _convert(k, leaf, value)
    node = params
    for p in path:
      node = node.setdefault(p, {})
    if name in node:
      raise CheckpointError(f"{k}: duplicate parameter {'/'.join(path)}/{name}")
    node[name] = arr
  if cfg is not None:
    _check_against(params, cfg)
  return params


def _check_against(params: dict, cfg: R2LCMConfig) -> None:
  import jax

  from r2lcm_jax.models.param_init import param_shapes

  expected = param_shapes(cfg)
  got = {
    "/".join(str(getattr(k, "key", k)) for k in p): v.shape
    for p, v in jax.tree_util.tree_leaves_with_path(params)
  }
  missing = sorted(set(expected) - set(got))
  extra = sorted(set(got) - set(expected))
  if missing or extra:
    raise CheckpointError(
      f"checkpoint does not match the model config: missing {missing[:5]}"
      f"{'...' if len(missing) > 5 else ''}, unexpected {extra[:5]}"
    )
  bad = [k for k in expected if tuple(expected[k]) != tuple(got[k])]
  if bad:
    k = bad[0]
    raise CheckpointError(
      f"checkpoint shape mismatch for {k}: {got[k]} vs model {expected[k]}"
      f" ({len(bad)} mismatched)"
    )
