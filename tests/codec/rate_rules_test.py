"""The drop / gamma rule is one rule: the training forward and the coding loop agree."""

from __future__ import annotations

import numpy as np
import pytest

from r2lcm_jax.codec.latent_coding import RateSettings
from r2lcm_jax.errors import InputError
from r2lcm_jax.models.context_model import gamma_applies, is_dropped, step_schedule


@pytest.mark.parametrize("level", ["hyper", "main"])
@pytest.mark.parametrize("T", [1, 2, 4, 5])
def test_training_schedule_is_the_coding_rule(level, T):
  for drop in range(T):
    dropped, offset = step_schedule(level, T, drop, 1.5)
    want_drop = [bool(is_dropped(level, i, T, drop)) for i in range(T)]
    want_off = [1.5 if gamma_applies(level, i, T, drop) else 0.0 for i in range(T)]
    np.testing.assert_array_equal(np.asarray(dropped), want_drop)
    np.testing.assert_array_equal(np.asarray(offset), np.float32(want_off))
    if level == "main":  # the last `drop` steps are dropped, gamma on the one before
      assert want_drop == [i >= T - drop for i in range(T)]
      assert want_off.index(1.5) == T - 1 - drop
    else:
      assert not any(want_drop) and not any(want_off)


def test_rate_settings_refuse_what_the_decoder_cannot_read():
  assert RateSettings.from_request(1, 0.25, 4) == RateSettings(1, 250)
  for drop, gamma in ((4, 0.0), (-1, 0.0), (0, -0.5), (0, 1e9)):
    with pytest.raises(InputError):
      RateSettings.from_request(drop, gamma, 4)
