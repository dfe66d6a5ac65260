"""The state of a star-study training and what is recorded per network (``TrainingState``): at
epoch t the parameters, data weights p, step sizes h and linear-regression thresholds, the first
epoch at which a hidden unit's on/off pattern changed ("kink crossed"), the loss fell below
LOSS_MARGIN x the threshold ("loss crossed") or turned non-finite, and the log rows; its files,
state.pt (resumable, loaded with weights_only=True) and result.json (plain data). Whatever engine
trains the networks records through ``record`` and ``log_row``.

Device policy: the start (weights p, He initialisation, thresholds, step sizes) is drawn and computed
on the CPU in float64 from the seed, then cast to the dtype and moved to the device, so a run on any
device and with any thread count starts from identical tensors."""
import copy
import json
import math
from pathlib import Path

import numpy as np
import torch

from kinks.checks import require
from kinks.files import atomic_write, save_json
from kinks.nets import torch_dtype
from kinks.samples import SampleRule
from kinks.star.config import StarConfig
from kinks.star.data import regression_thresholds
from kinks.star.networks import forward, init_params, initial_step_sizes, on_off_pattern

STATE_FORMAT = "kinks-star-state/2"
BOOL_PATTERN_FORMAT = "kinks-star-state/1"   # the initial pattern as bool, one byte per unit and point; still read
READABLE_FORMATS = (BOOL_PATTERN_FORMAT, STATE_FORMAT)
LOSS_MARGIN = 0.999999  # "loss crossed": loss < LOSS_MARGIN * threshold
LOG_COLUMNS = ("epoch", "mean_loss") + tuple(f"ratio_d{k}" for k in range(1, 10)) + (
    "kink_crossed", "loss_crossed", "non_finite")
FIRST_EPOCHS = ("kink_epoch", "loss_epoch", "nan_epoch")


def packed_pattern(pattern):
    """The on/off pattern bool (P, m, k) packed along the units: uint8 (P, m, ceil(k / 8)), unit i
    in bit i % 8 (the lowest first) of byte i // 8, as ``numpy.packbits(..., axis=2,
    bitorder="little")`` writes it (an eighth of the bool tensor: at n = 8192 and P = 500 that
    tensor was half of state.pt)."""
    return torch.from_numpy(np.packbits(pattern.cpu().numpy(), axis=2, bitorder="little"))


def unpacked_pattern(packed, k):
    """The inverse of ``packed_pattern`` for k = L n units: bool (P, m, k)."""
    return torch.from_numpy(np.unpackbits(packed.cpu().numpy(), axis=2, count=k, bitorder="little").view(bool))


class TrainingState:
    """The networks of one configuration in training and what is tracked per network, at epoch
    ``epoch`` (theta_epoch, before its step):

        params          the layers [A (P, fan_in + 1, fan_out), ...]
        p, step_size    the data weights (P, m) and step sizes h (P,)
        threshold       the linear-regression thresholds (P,), float64
        initial_pattern the on/off pattern at initialisation, bool (P, m, L n)
        kink_epoch, loss_epoch, nan_epoch
                        the first kink-crossed, loss-crossed and non-finite epochs (P,), -1 = not yet
        loss            L(theta_{epoch - 1}) (P,), NaN before the first epoch
        log             a row of LOG_COLUMNS per logged epoch (rows, 17), float64 on the CPU
        engine          the engine that trains it, 'torch' or 'compiled' (``kinks.star.reduced``)
        restart         None, or where the compiled engine resumes from when it stopped between
                        two rebuilds: dict(epoch, params) of its last rebuild

    state.pt holds the plain dict of ``to_dict`` (format STATE_FORMAT; the configuration as JSON
    text, data weights as 'weights', step sizes as 'step', the initial pattern packed eight units
    to a byte: ``packed_pattern``), loaded with weights_only=True; a state written before the
    compiled engine is a torch state."""

    def __init__(self, config, epoch, params, p, step_size, threshold, initial_pattern, kink_epoch, loss_epoch,
                 nan_epoch, loss, log, engine="torch", restart=None):
        self.config, self.epoch, self.params = config, epoch, params
        self.p, self.step_size, self.threshold, self.initial_pattern = p, step_size, threshold, initial_pattern
        self.kink_epoch, self.loss_epoch, self.nan_epoch = kink_epoch, loss_epoch, nan_epoch
        self.loss, self.log, self.engine, self.restart = loss, log, engine, restart

    @classmethod
    def initial(cls, config, device):
        """The state at epoch 0. Draws: numpy SeedSequence(seed) for p (the rule of --samples: p =
        Multinomial(N, pi) / N, or pi itself), torch's CPU generator seeded with ``seed`` for the
        parameters. Parameters, p, h and thresholds are computed on the CPU in
        float64 and only then cast to the dtype and moved to ``device``, so the start does not depend
        on the device or the thread count; the initial pattern is that of the cast parameters, as the
        epochs see them."""
        X, y, probs = config.training_data()
        P, n, dtype = config.runs, config.width, torch_dtype(config.dtype)
        p = torch.as_tensor(SampleRule(config.samples).draw(np.random.default_rng(np.random.SeedSequence(config.seed)),
                                                            P, n, probs))
        params = init_params(P, X.shape[1], n, config.layers, config.random_bias,
                             torch.Generator().manual_seed(config.seed))
        h = initial_step_sizes(config, params, torch.as_tensor(X), p)
        params = [A.to(device, dtype) for A in params]
        never = torch.full((P,), -1, dtype=torch.int64, device=device)
        X_t = torch.as_tensor(X, device=device, dtype=dtype)
        return cls(config, 0, params, p.to(device, dtype), h.to(device, dtype),
                   torch.as_tensor(regression_thresholds(X, y, p.numpy()), device=device),
                   on_off_pattern(forward(params, X_t, config.activation)[1]), never, never.clone(), never.clone(),
                   torch.full((P,), math.nan, dtype=dtype, device=device),
                   torch.zeros((0, len(LOG_COLUMNS)), dtype=torch.float64))

    def to_dict(self):
        """The plain dict of state.pt, every tensor on the CPU."""
        cpu = lambda tensor: tensor.cpu()  # noqa: E731
        return dict(format=STATE_FORMAT, config=json.dumps(self.config.as_dict(), sort_keys=True), epoch=self.epoch,
                    params=[cpu(A) for A in self.params], weights=cpu(self.p), step=cpu(self.step_size),
                    threshold=cpu(self.threshold), initial_pattern=packed_pattern(self.initial_pattern),
                    **{key: cpu(getattr(self, key)) for key in FIRST_EPOCHS}, loss=cpu(self.loss), log=self.log.cpu(),
                    engine=self.engine, **({} if self.restart is None else dict(
                        restart=dict(epoch=self.restart["epoch"], params=[cpu(A) for A in self.restart["params"]]))))

    @classmethod
    def from_dict(cls, saved, device):
        """The state of a state.pt dict on ``device`` (the log stays on the CPU); its configuration
        parsed once, also as older versions wrote it (see ``StarConfig.from_dict``), and its initial
        pattern as either format wrote it."""
        on = lambda key: saved[key].to(device)  # noqa: E731
        config, pattern = StarConfig.from_dict(json.loads(saved["config"])), saved["initial_pattern"]
        if saved["format"] != BOOL_PATTERN_FORMAT:
            pattern = unpacked_pattern(pattern, config.layers * config.width)
        restart = saved.get("restart")
        if restart is not None:
            restart = dict(epoch=restart["epoch"], params=[A.to(device) for A in restart["params"]])
        return cls(config, saved["epoch"],
                   [A.to(device) for A in saved["params"]], on("weights"), on("step"), on("threshold"),
                   pattern.to(device), *(on(key) for key in FIRST_EPOCHS), on("loss"), saved["log"].cpu(),
                   saved.get("engine", "torch"), restart)

    def copy(self):
        """A shallow copy: the same tensors, which the epochs replace rather than change."""
        return copy.copy(self)

    def record(self, epoch, loss, changed):
        """Record epoch t as the first kink-crossed, loss-crossed and non-finite epoch where due."""
        below = loss.double() < LOSS_MARGIN * self.threshold
        for key, event in zip(FIRST_EPOCHS, (changed, below, ~torch.isfinite(loss))):
            first = getattr(self, key)
            setattr(self, key, torch.where((first < 0) & event, epoch, first))

    def fractions(self, epoch=math.inf):
        """The kink-crossed and loss-crossed fractions by epoch ``epoch`` (default: so far), float64 (2,)."""
        return torch.stack([((first >= 0) & (first <= epoch)).double().mean()
                            for first in (getattr(self, key) for key in FIRST_EPOCHS[:2])])

    def log_row(self, epoch, loss):
        """The log at epoch t: mean loss over finite losses, the deciles of loss / threshold, both
        crossed fractions by epoch t and the count of non-finite losses; a float64 tensor
        (len(LOG_COLUMNS),)."""
        loss = loss.double()
        finite = torch.isfinite(loss)
        ratio = torch.where(finite, loss / self.threshold, math.nan)
        deciles = torch.nanquantile(ratio, torch.linspace(0.1, 0.9, 9, dtype=torch.float64, device=loss.device))
        mean = loss[finite].mean() if finite.any() else torch.tensor(math.nan, device=loss.device)
        return torch.cat([torch.tensor([epoch], dtype=torch.float64, device=loss.device), mean[None], deciles,
                          self.fractions(epoch), (~finite).sum()[None].double()]).cpu()

    def bar_values(self, loss):
        """The progress bar's values now: the crossed fractions (as ``summary`` prints them) and the
        count of non-finite losses."""
        kink, crossed = self.fractions().tolist()
        return dict(kink=f"{kink:.3f}", loss=f"{crossed:.3f}", nan=int((~torch.isfinite(loss)).sum().item()))

    def result(self):
        """The contents of result.json: the configuration, the epoch, the engine, per network the first epochs and
        the final loss / threshold (null where non-finite), and the log."""
        ratio = (self.loss.cpu().double() / self.threshold.cpu()).tolist()
        return dict(config=self.config.as_dict(), epoch=self.epoch, engine=self.engine, n_networks=len(ratio),
                    **{key: getattr(self, key).tolist() for key in FIRST_EPOCHS},
                    final_ratio=[v if math.isfinite(v) else None for v in ratio],
                    log_columns=list(LOG_COLUMNS), log=self.log.tolist())

    def save(self, folder):
        """Write state.pt and then result.json into ``folder``, each atomically."""
        saved = self.to_dict()
        atomic_write(Path(folder) / "state.pt", lambda file: torch.save(saved, file))
        save_json(Path(folder) / "result.json", self.result())

    @classmethod
    def load(cls, folder, device):
        """The state of ``folder``/state.pt on ``device`` (loaded with weights_only=True)."""
        saved = torch.load(Path(folder) / "state.pt", map_location=device, weights_only=True)
        require(saved.get("format") in READABLE_FORMATS, f"{folder}/state.pt is not a star-data-set state")
        return cls.from_dict(saved, device)

    def summary(self):
        """One line: epoch, kink-crossed and loss-crossed fractions, non-finite count."""
        P = self.config.runs
        kink, loss = ((getattr(self, key) >= 0).sum().item() for key in FIRST_EPOCHS[:2])
        return (f"epoch {self.epoch}: kink crossed {kink}/{P} ({kink / P:.3f}), loss crossed {loss}/{P} "
                f"({loss / P:.3f}), non-finite loss {(self.nan_epoch >= 0).sum().item()}")
