"""Timing harness for the official PyTorch R2LCM, next to ours (`--official_repo PATH`).

Used by `r2lcm bench train` and `r2lcm bench codec`. Nothing of the official code is
copied here: the model class `RawLearnedJournal4` is imported from a checkout the user
points at, and only this harness (the step, the loss, the codec's network sequence) is
ours. torch is imported inside the functions, so the project never needs it.

The model is the one `examples/train_raw.py` builds for the README SonyA57 setting:
`learned_context_journal4` at quality 1 (N=64), reduce_c 8 (C=8), sampling_num 4 (T=4),
use_deconv, stride 2, down_num 2, adaptive_quant, rounding "noise", rounding_aux
"forward", GDN activations.

Optional imports of the checkout that fail here (its C++ extensions `compressai._CXX` /
`compressai.ans`, and packages such as torchvision, tqdm or thop that the model file
imports but the model never calls) are replaced by empty module objects; nothing else is
touched. Which names were replaced is reported (`OfficialModel.stubbed`).

  * `OfficialModel.train_step(raw, srgb)`: forward in train mode, loss
    0.24 * 255^2 * L1 + bpp (bpp = sum of -log2 likelihoods / (B*H*W)), backward,
    clip_grad_norm_(1.0), Adam step (the official optimizer; the auxiliary optimizer of
    the unused entropy bottleneck's quantiles is left out).
  * `OfficialModel.encode_networks(raw, srgb)` / `decode_networks(srgb, y_hat, z_hat)`:
    the codec's network calls at full size in eval mode under `no_grad`, without
    entropy coding; the same sequence as ours (see `codec.codec`): encode = g_a, h_a,
    then per level g_mask x T and (context prediction + entropy parameters) x T, with
    h_s between the levels; decode = the same two levels with h_s between them, then
    bicubic x4 + g_s. Symbols are rounded around the mean (cost negligible).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import pathlib
import sys
import time
import types

import numpy as np

from r2lcm_jax.errors import ConfigError, InputError

__all__ = ["OfficialModel", "load_official"]

_MODEL_FILE = "compressai/models/learned_raw_journal4.py"
# Top-level names the harness may replace when their import fails, and the checkout's
# own compiled extensions.
_OPTIONAL = ("torchvision", "tqdm", "thop", "cv2", "lmdb", "rawpy", "exifread", "mmcv",
             "tkinter", "range_coder", "compressai._CXX", "compressai.ans")

# README SonyA57 arguments of examples/train_raw.py (quality 1 => N=64).
_MODEL_KWARGS = dict(
  N=64, reduce_c=8, sampling_num=4, use_deconv=True, stride=2, down_num=2,
  adaptive_quant=True, rounding="noise", rounding_aux="forward", act="GDN",
)
_LMBDA = 0.24
_LR = 1e-4
_EPS = 1e-6  # train_raw.py's default --eps
_CLIP = 1.0


class _Placeholder:
  """What a name imported from a replaced module is: it may be constructed (the entropy
  models build an rANS coder object at init) but never used."""

  def __init__(self, *args, **kwargs):
    pass

  def __getattr__(self, name: str):
    raise RuntimeError(f"{type(self).__name__}.{name}: a replaced optional import of the "
                       "official checkout was used")


class _EmptyModule(types.ModuleType):
  """A module whose every public attribute is a placeholder class."""

  def __getattr__(self, name: str):
    if name.startswith("__"):
      raise AttributeError(name)
    return type(name, (_Placeholder,), {})


class _OptionalImportFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
  """Last on sys.meta_path: answers only imports of `_OPTIONAL` that nothing else found."""

  def __init__(self):
    self.stubbed: list[str] = []

  def find_spec(self, fullname, path=None, target=None):
    if not any(fullname == n or fullname.startswith(n + ".") for n in _OPTIONAL):
      return None
    return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

  def create_module(self, spec):
    module = _EmptyModule(spec.name)
    module.__path__ = []
    self.stubbed.append(spec.name)
    return module

  def exec_module(self, module):
    return None


def _import_model_class(repo: pathlib.Path) -> tuple[type, list[str]]:
  finder = _OptionalImportFinder()
  sys.path.insert(0, str(repo))
  sys.meta_path.append(finder)
  try:
    module = importlib.import_module("compressai.models.learned_raw_journal4")
  except ImportError as err:
    raise InputError(
      f"--official_repo {repo}: the official model does not import here ({err})") from None
  finally:
    sys.meta_path.remove(finder)
  if not str(getattr(module, "__file__", "")).startswith(str(repo)):
    raise InputError(f"--official_repo {repo}: another `compressai` package is already "
                     "imported in this process")
  return module.RawLearnedJournal4, finder.stubbed


def load_official(repo: str, threads: int) -> OfficialModel:
  """Imports the official model from the checkout `repo` and builds it (seeded).

  Args:
    repo: path of a checkout of the official R2LCM repository.
    threads: torch intra-op threads (`torch.set_num_threads`).

  Raises:
    InputError: `repo` is not an official checkout or its model does not import.
    ConfigError: torch is not installed.
  """
  root = pathlib.Path(repo).expanduser().resolve()
  if not (root / _MODEL_FILE).is_file():
    raise InputError(f"--official_repo {repo}: not a checkout of the official R2LCM code "
                     f"(no {_MODEL_FILE})")
  try:
    import torch
  except ImportError:
    raise ConfigError("--official_repo needs torch (pip install torch)") from None
  torch.set_num_threads(int(threads))
  cls, stubbed = _import_model_class(root)
  torch.manual_seed(0)
  return OfficialModel(cls(**_MODEL_KWARGS), stubbed, int(threads))


def _nchw(a: np.ndarray):
  import torch

  return torch.from_numpy(np.ascontiguousarray(np.transpose(a, (0, 3, 1, 2)), np.float32))


class OfficialModel:
  """The official model with our timing harness around it.

  Attributes:
    net: the `RawLearnedJournal4` module.
    stubbed: optional imports replaced by empty modules.
    threads: torch intra-op threads.
  """

  def __init__(self, net, stubbed: list[str], threads: int):
    import torch

    self.net = net
    self.stubbed = stubbed
    self.threads = threads
    self._params = [p for n, p in net.named_parameters() if not n.endswith(".quantiles")]
    self._opt = torch.optim.Adam(self._params, lr=_LR, betas=(0.9, 0.999), eps=_EPS)
    self._t = net.sampling_num

  # --- training ---------------------------------------------------------------------

  def train_step(self, raw: np.ndarray, srgb: np.ndarray) -> tuple[float, float]:
    """One optimisation step on NHWC float32 (B, H, W, 3) arrays.

    Returns:
      (seconds, loss): wall time of forward + loss + backward + clip + Adam (the NHWC ->
      NCHW conversion excluded) and the loss value.
    """
    import torch
    import torch.nn.functional as F

    x, s = _nchw(raw), _nchw(srgb)
    b, _, h, w = x.shape
    self.net.train()
    t0 = time.perf_counter()
    self._opt.zero_grad(set_to_none=True)
    out = self.net(x, s)
    bits = sum(-torch.log2(lk).sum() for lk in out["likelihoods"].values())
    loss = _LMBDA * 255.0**2 * F.l1_loss(out["x_hat"], x) + bits / (b * h * w)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(self._params, _CLIP)
    self._opt.step()
    value = float(loss.detach())
    return time.perf_counter() - t0, value

  # --- codec networks ---------------------------------------------------------------

  def _masks(self, level: int, P, s):
    """Order of one level: int tensor (B, 1, h, w) of the step each position is coded."""
    import torch
    import torch.nn.functional as F

    b, _, h, w = P.shape
    known = torch.zeros(b, 1, h, w)
    order = torch.full((b, 1, h, w), self._t, dtype=torch.int64)
    for i in range(self._t):
      logits = self.net.g_mask_list[level](torch.cat([P, known], 1), s)
      sel = F.gumbel_softmax(logits, hard=True, dim=1)[:, :1]
      new = torch.maximum(known, sel) - known
      order = torch.where(new > 0, torch.full_like(order, i), order)
      known = known + new
    return order

  def _level(self, level: int, u, P, s):
    """The T context steps of one level; u: (B, C, h, w) (None: decode with zeros)."""
    import torch

    order = self._masks(level, P, s)
    cp = self.net.context_prediction_list[level]
    ep = self.net.entropy_parameters_list[level]
    c = P.shape[1] // 2
    u_hat = torch.zeros(P.shape[0], c, *P.shape[2:])
    q_map = torch.zeros_like(u_hat)
    for i in range(self._t):
      known = (order < i).float()
      ctx = cp(torch.cat([u_hat, q_map, known], 1), s)
      _, mu, q = ep(torch.cat([P, ctx, known], 1), s).chunk(3, 1)
      sel = (order == i).float()
      step = torch.exp2(q)
      src = mu if u is None else u
      value = torch.round((src - mu) / step) * step + mu
      u_hat = u_hat + value * sel
      q_map = q_map + q * sel
    return u_hat

  def encode_networks(self, raw: np.ndarray, srgb: np.ndarray) -> tuple[float, tuple]:
    """Encoder-side networks on NHWC (1, H, W, 3) arrays, H, W multiples of 16.

    Returns:
      (seconds, (y_hat, z_hat)) with the decoded latents for `decode_networks`.
    """
    import torch

    x, s = _nchw(raw), _nchw(srgb)
    self.net.eval()
    with torch.no_grad():
      t0 = time.perf_counter()
      y = self.net.g_a_list[0](x, s)
      z = self.net.g_a_list[1](y, s)
      P = torch.zeros(z.shape[0], 2 * z.shape[1], *z.shape[2:])
      z_hat = self._level(1, z, P, s)
      P = self.net.g_s_list[1](z_hat, s)
      y_hat = self._level(0, y, P, s)
      seconds = time.perf_counter() - t0
    return seconds, (y_hat, z_hat)

  def decode_networks(self, srgb: np.ndarray, latents: tuple) -> float:
    """Decoder-side networks (masks, context steps, h_s, bicubic + g_s); seconds."""
    import torch
    import torch.nn.functional as F

    s = _nchw(srgb)
    y_hat_coded, z_hat = latents
    self.net.eval()
    with torch.no_grad():
      t0 = time.perf_counter()
      P = torch.zeros(z_hat.shape[0], 2 * z_hat.shape[1], *z_hat.shape[2:])
      self._level(1, None, P, s)
      P = self.net.g_s_list[1](z_hat, s)
      self._level(0, None, P, s)
      up = F.interpolate(y_hat_coded, scale_factor=4, mode="bicubic")
      x_hat = self.net.g_s_list[0](up, s)
      seconds = time.perf_counter() - t0
    del x_hat
    return seconds
