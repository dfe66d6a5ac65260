"""Tests of the star study's compiled engine (kinks.star.reduced, kinks.star.compiled): the group
step against brute force per unit, the codes, the engine against the torch epochs in float64 (first
epochs, log, parameters), the skin against testing every unit every epoch, and that the chunk split,
--jobs and stopping between rebuilds give the numbers of a straight run. Tiny sizes throughout."""
import numpy as np
import pytest
import torch

from kinks.checks import UsageError
from kinks.star import reduced, training
from kinks.star.config import StarConfig
from kinks.star.state import FIRST_EPOCHS, TrainingState

CPU = torch.device("cpu")


def trained(config, epochs, engine, log_every=100, **options):
    """A fresh state of ``config`` trained to ``epochs`` by the torch epochs or the compiled engine."""
    state = TrainingState.initial(config, CPU)
    state.engine = engine
    if engine == "torch":
        return training.train_epochs(state, training.epoch_data(state, CPU), epochs, log_every)
    return reduced.advance(state, epochs, log_every, **options)


def assert_same_records_to_round_off(torch_state, compiled):
    """The first epochs agree exactly, the log, parameters and last loss to round-off."""
    same = [torch.equal(getattr(torch_state, key), getattr(compiled, key)) for key in FIRST_EPOCHS]
    assert all(same), [(getattr(torch_state, key).tolist(), getattr(compiled, key).tolist()) for key in FIRST_EPOCHS]
    torch.testing.assert_close(compiled.log, torch_state.log, rtol=1e-9, atol=1e-12)
    for A, B in zip(compiled.params, torch_state.params):
        torch.testing.assert_close(A, B, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(compiled.loss, torch_state.loss, rtol=1e-9, atol=1e-14)


def assert_same_records(first, second):
    for key in FIRST_EPOCHS:
        assert torch.equal(getattr(first, key), getattr(second, key)), key
    assert torch.equal(first.log, second.log)


# ----------------------------------------------------------------------------- the group step
def test_group_step_moves_the_moments_of_every_unit():
    """Sigma' = L Sigma L^T equals sum_i (L u_i)(L u_i)^T with u_i moved by its own gradient, its
    blocks follow the closed forms of M, A and W, Phi' = L Phi, and the drift grows by h |g_S|; g_S
    is summed over the group's point classes (here: two points per class). The group lies in lane 1
    of block 1 of Z, beside a parked group (lane 0), which does not move."""
    from kinks.star.compiled import step_groups
    from kinks.star.groups import CLASSES, LANES, SLOTS, at, lane, layout, new_groups, new_work

    rng = np.random.default_rng(0)
    X1 = np.concatenate([rng.standard_normal((8, 2)), np.ones((8, 1))], axis=1)
    r, h, U = rng.standard_normal(8), 0.3, rng.standard_normal((5, 4))    # 5 units [a; b; w] of one group
    on_classes = [0, 2, 3]                                                # classes of two points each
    on = np.arange(8).reshape(4, 2)[on_classes].ravel()
    g = (r[on, None] * X1[on]).sum(0)
    moved = np.stack([np.concatenate([u[:3] - h * u[3] * g, [u[3] - h * u[:3] @ g]]) for u in U])
    groups, work = new_groups(40, 8, 4, 1), new_work(X1, 40, 1)
    PHI, _, _, USED, _, ON = layout(4)
    parked, s = LANES, LANES + 1
    groups.counts[SLOTS], groups.counts[CLASSES], groups.used[s] = s + 1, 4, 5
    groups.class_of[:] = np.arange(8) // 2
    work.Q[:4] = (r[:, None] * X1).reshape(4, 2, 3).sum(1)                # Q_c = sum_{j in c} r_j x~_j

    def entries(slot, offset):
        z, lane_ = lane(groups.Z, slot)
        return [z[at(offset + k, lane_)] for k in range(16)], z, lane_

    for slot, Sigma0 in ((parked, np.zeros((4, 4))), (s, U.T @ U)):
        _, z, lane_ = entries(slot, 0)
        for k in range(16):
            z[at(k, lane_)], z[at(PHI + k, lane_)] = Sigma0.flat[k], np.eye(4).flat[k]
        for c in on_classes:
            z[at(ON + c, lane_)] = 1.0
        z[at(USED, lane_)] = float(slot == s)
    step_groups(groups, h, work, 3)
    Sigma, Phi = (np.reshape(entries(s, offset)[0], (4, 4)) for offset in (0, PHI))
    np.testing.assert_allclose(Sigma, moved.T @ moved, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(U @ Phi.T, moved, rtol=1e-13, atol=1e-13)
    assert groups.drift[s] == groups.growth[s] == pytest.approx(h * np.linalg.norm(g), rel=1e-14)
    A, M, W = U[:, :3].T @ U[:, :3], U[:, :3].T @ U[:, 3], U[:, 3] @ U[:, 3]
    np.testing.assert_allclose(Sigma[:3, 3], M - h * W * g - h * A @ g + h ** 2 * (M @ g) * g, rtol=1e-13)
    np.testing.assert_allclose(Sigma[:3, :3], A - h * (np.outer(M, g) + np.outer(g, M)) + h ** 2 * W * np.outer(g, g),
                               rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(Sigma[3, 3], W - 2 * h * M @ g + h ** 2 * g @ A @ g, rtol=1e-13)
    assert entries(parked, 0)[0] == [0.0] * 16 and entries(parked, PHI)[0] == list(np.eye(4).ravel())
    assert groups.drift[parked] == 0.0


def test_skin_allowance_bounds_how_far_a_unit_moves():
    """|theta(t) - theta(s)| <= |w_s| sinh G + |theta_s| (cosh G - 1), G = sum_t h |g(t)|, on units
    moved by arbitrary gradient sums g(t) (the worst case: g along theta or w as they grow), and the
    allowance keeps that below SKIN_SAFETY rho."""
    from kinks.star.groups import SKIN_SAFETY, skin_allowance

    rng = np.random.default_rng(1)
    for _ in range(200):
        u, h = rng.standard_normal(4) * rng.choice([1e-3, 1.0], 4), 0.05
        theta0, w0, rho = u[:3].copy(), u[3], rng.uniform(1e-4, 1.0)
        allowance = skin_allowance(u, rho)
        theta, w, G = theta0.copy(), w0, 0.0
        while G < allowance:
            g = rng.standard_normal(3)
            g *= min(rng.uniform(0.1, 1.0), (allowance - G) / h) / np.linalg.norm(g)
            theta, w = theta - h * w * g, w - h * theta @ g
            G += h * np.linalg.norm(g)
            assert np.linalg.norm(theta - theta0) <= abs(w0) * np.sinh(G) + np.linalg.norm(theta0) * (np.cosh(G) - 1) \
                + 1e-12
        assert abs(w0) * np.sinh(G) + np.linalg.norm(theta0) * (np.cosh(G) - 1) <= SKIN_SAFETY * rho * (1 + 1e-12)


@pytest.mark.parametrize("m", [2, 33, 70])
def test_unit_pattern_finds_the_code_margin_and_nearest_points(m):
    """unit_pattern against a direct computation: the code, rho = min_j |theta . x~_j| / |x~_j|, and
    where watching the WATCH points of least margin in order and the least margin of the others
    (inf where none)."""
    from kinks.star.groups import WATCH, unit_pattern

    rng = np.random.default_rng(m)
    X1 = np.c_[rng.standard_normal((m, 2)), np.ones(m)]
    inv_norm = 1 / np.linalg.norm(X1, axis=1)
    for _ in range(20):
        u = rng.standard_normal(4)
        z = 0.0 + X1[:, 0] * u[0] + X1[:, 1] * u[1] + X1[:, 2] * u[2]     # summed in the engine's order
        margins = np.abs(z) * inv_norm
        code, nearest, near = np.zeros(-(-m // 64), np.uint64), np.zeros(WATCH, np.int64), np.zeros(WATCH)
        assert unit_pattern(u, X1, inv_norm, code, nearest, near, False, 3) == (margins.min(), margins.min())
        assert nearest.tolist() == [-1] * WATCH
        rho, beyond = unit_pattern(u, X1, inv_norm, code, nearest, near, True, 3)
        order = np.argsort(margins, kind="stable")
        bits = [(code[j // 64] >> np.uint64(j % 64)) & np.uint64(1) for j in range(m)]
        np.testing.assert_array_equal(np.array(bits, bool), z > 0)
        assert rho == margins.min()
        kept = min(m, WATCH)
        assert nearest[:kept].tolist() == order[:kept].tolist() and nearest[kept:].tolist() == [-1] * (WATCH - kept)
        np.testing.assert_array_equal(near[:kept], margins[order[:kept]])
        assert beyond == (margins[order[WATCH]] if m > WATCH else np.inf)


@pytest.mark.parametrize("m", [6, 64, 70])
def test_pattern_words_hold_every_bit(m):
    pattern = torch.rand((2, m, 3), generator=torch.Generator().manual_seed(m)) > 0.5
    words = reduced.pattern_words(pattern)
    assert words.shape == (2, 3, -(-m // 64)) and words.dtype == np.uint64
    for j in range(m):
        bit = (words[:, :, j // 64] >> np.uint64(j % 64)) & np.uint64(1)
        np.testing.assert_array_equal(bit.astype(bool), pattern[:, j, :].numpy())


def test_unit_vectors_and_layer_params_are_inverse():
    state = TrainingState.initial(StarConfig("star_7", 5, runs=3, random_bias=True, dtype="float64"), CPU)
    U, c = reduced.unit_vectors(state.params)
    assert U.shape == (3, 5, 4)
    assert all(torch.equal(A, B) for A, B in zip(reduced.layer_params(U, c, CPU), state.params))


# ----------------------------------------------------------------------------- against torch
@pytest.mark.parametrize("dataset,width,random_bias,step", [
    ("star_11", 16, False, "gram"), ("star_11", 64, False, "published"), ("cross", 16, False, "published"),
    ("double_cross", 16, True, "gram"), ("random_with_line", 8, True, "gram"),
    ("multi_axis_13", 6, True, "gram")])                      # m = 65: two code words
def test_compiled_engine_records_what_the_torch_epochs_record(dataset, width, random_bias, step):
    """Inputs in 2-D (D = 3) and in 13-D (D = 14): the loops are compiled for each D (about 45 s
    each), so the tests keep to these two."""
    config = StarConfig(dataset, width, runs=12, random_bias=random_bias, step=step, dtype="float64")
    torch_state, compiled = trained(config, 1500, "torch"), trained(config, 1500, "compiled")
    assert (torch_state.kink_epoch >= 0).any()
    assert_same_records_to_round_off(torch_state, compiled)


def test_a_run_that_ends_within_its_last_blocks_probe_keeps_its_last_loss():
    """A run stopping fewer than PROBE_EPOCHS epochs after a rebuild (here: 30 epochs from the
    start) records the last loss as the torch epochs do (it was NaN: an empty block ran last)."""
    config = StarConfig("star_11", 8, runs=4, dtype="float64")
    torch_state, compiled = trained(config, 30, "torch", log_every=10), trained(config, 30, "compiled", log_every=10)
    assert torch.isfinite(compiled.loss).all()
    assert_same_records_to_round_off(torch_state, compiled)


def test_non_finite_losses_are_recorded_as_by_torch():
    config = StarConfig("cross", 6, runs=8, lr_factor=60, dtype="float64")
    torch_state, compiled = trained(config, 200, "torch", 50), trained(config, 200, "compiled", 50)
    assert (torch_state.nan_epoch >= 0).any()
    assert torch.equal(torch_state.nan_epoch, compiled.nan_epoch)
    assert torch.equal(torch_state.kink_epoch, compiled.kink_epoch)


# ----------------------------------------------------------------------------- direct blocks
@pytest.mark.parametrize("dataset,width,random_bias,step", [
    ("star_11", 16, False, "published"), ("multi_axis_13", 7, True, "gram")])   # an odd width; m = 65
def test_direct_blocks_record_what_the_torch_epochs_record(dataset, width, random_bias, step):
    config = StarConfig(dataset, width, runs=12, random_bias=random_bias, step=step, dtype="float64")
    torch_state, direct = trained(config, 1500, "torch"), trained(config, 1500, "compiled", blocks="direct")
    assert (torch_state.kink_epoch >= 0).any()
    assert_same_records_to_round_off(torch_state, direct)


def brute_force_loose(U, c, X1, y, p, h, epochs):
    """Gd epochs of one network by NumPy from units U (n, E), returning how many units are loose at
    the end and how many times a loose unit joined a group: a unit turns loose at the step that
    changes its on/off pattern, and at every step to an epoch t + 1 that is a multiple of
    COOL_EVERY a loose unit joins a group again where its skin allowance (the formula of
    ``skin_allowance``, from its margin rho) is more than COOL_EPOCHS times its step's h |g_i|."""
    from kinks.star.compiled import COOL_EPOCHS, COOL_EVERY
    from kinks.star.groups import SKIN_SAFETY

    theta, w = U[:, :-1].copy(), U[:, -1].copy()
    on, loose, joined = X1 @ theta.T > 0, np.zeros(len(w), bool), 0        # (m, n), (n,)
    for t in range(epochs):
        r = p * (c + np.maximum(X1 @ theta.T, 0) @ w - y)
        g = (r[:, None, None] * on[:, :, None] * X1[:, None, :]).sum(0)    # (n, D): g_i
        theta, w, c = theta - h * w[:, None] * g, w - h * (theta * g).sum(1), c - h * r.sum()
        new = X1 @ theta.T > 0
        loose |= (new != on).any(0)
        on = new
        if (t + 1) % COOL_EVERY == 0:
            rho = (np.abs(X1 @ theta.T) / np.linalg.norm(X1, axis=1)[:, None]).min(0)
            linear, quadratic, budget = np.sinh(1) * np.abs(w), (np.cosh(1) - 1) * np.linalg.norm(theta, axis=1), \
                SKIN_SAFETY * rho
            allowance = np.minimum(1, 2 * budget / (linear + np.sqrt(linear ** 2 + 4 * quadratic * budget)))
            joins = loose & (allowance > COOL_EPOCHS * h * np.linalg.norm(g, axis=1))
            loose, joined = loose & ~joins, joined + int(joins.sum())
    return int(loose.sum()), joined


def test_loose_units_and_their_joins_train_as_the_torch_epochs():
    """Units that turn loose and join a group again (both counted by brute force) give the torch
    epochs' records and parameters, by the groups alone."""
    config = StarConfig("star_11", 16, runs=10, random_bias=True, step="gram", lr_factor=2, dtype="float64")
    state, epochs = TrainingState.initial(config, CPU), 640
    X1, y, _ = reduced.data_arrays(config)
    U, c = reduced.unit_vectors(state.params)
    counts = np.array([brute_force_loose(U[k], c[k], X1, y, state.p[k].numpy(), state.step_size[k].item(), epochs)
                       for k in range(config.runs)])
    assert counts[:, 0].sum() > 0 and counts[:, 1].sum() > 0, counts
    torch_state = trained(config, epochs, "torch", log_every=64)
    compiled = trained(config, epochs, "compiled", log_every=64, blocks="groups")
    assert_same_records_to_round_off(torch_state, compiled)


def test_a_block_goes_on_direct_where_many_units_are_loose():
    """With blocks "auto" a block runs PROBE_EPOCHS epochs by the groups and goes on direct where
    more than DIRECT_LOOSE n units are then loose (counted here by brute force): bitwise the run of
    the groups to PROBE_EPOCHS, then a direct run from there; else bitwise the groups' run. Early
    on, at n = 16 and lr_factor 2, many networks qualify; not all do."""
    from kinks.star.direct import DIRECT_LOOSE, PROBE_EPOCHS

    config = StarConfig("star_11", 16, runs=10, random_bias=True, step="gram", lr_factor=2, dtype="float64")
    state, end = TrainingState.initial(config, CPU), 1200

    def run(blocks, t0, t1, start=None):
        task = dict(reduced.chunk_tasks(state, 0, state.params, t1, 16, False, blocks)[0], t0=t0)
        return reduced.train_chunk(task if start is None else dict(task, U=start["U"], c=start["c"],
                                                                    first=start["first"]))

    auto, groups = run("auto", 0, end), run("groups", 0, end)
    probe = run("groups", 0, PROBE_EPOCHS)
    switched = run("direct", PROBE_EPOCHS, end, start=probe)
    X1, y, _ = reduced.data_arrays(config)
    U, c = reduced.unit_vectors(state.params)
    loose = [brute_force_loose(U[k], c[k], X1, y, state.p[k].numpy(), state.step_size[k].item(), PROBE_EPOCHS)[0]
             for k in range(config.runs)]
    goes_direct = [count > DIRECT_LOOSE * config.width for count in loose]
    assert 0 < sum(goes_direct) < config.runs, loose
    for k, direct in enumerate(goes_direct):
        expected = switched if direct else groups
        np.testing.assert_array_equal(auto["U"][k], expected["U"][k])
        assert auto["c"][k] == expected["c"][k]
        np.testing.assert_array_equal(auto["first"][k], expected["first"][k])
        np.testing.assert_array_equal(auto["logs"][:, k], np.concatenate([probe["logs"][:, k], switched["logs"][:, k]])
                                      if direct else groups["logs"][:, k])
        assert direct == (not np.array_equal(auto["U"][k], groups["U"][k]))


# ----------------------------------------------------------------------------- the skin and the split
@pytest.mark.parametrize("dataset,random_bias", [("star_11", False), ("double_cross", True)])
def test_skin_gives_the_numbers_of_testing_every_unit(dataset, random_bias):
    config = StarConfig(dataset, 32, runs=10, random_bias=random_bias, step="gram", lr_factor=2, dtype="float64")
    skin, every = (trained(config, 2500, "compiled", blocks="groups"),
                   trained(config, 2500, "compiled", blocks="groups", every=True))
    assert (skin.kink_epoch >= 0).any()
    assert_same_records(skin, every)
    assert all(torch.equal(A, B) for A, B in zip(skin.params, every.params))


def test_chunks_jobs_and_stops_between_rebuilds_repeat_a_straight_run(monkeypatch):
    from kinks.star.compiled import REBUILD_EVERY as R

    config = StarConfig("cross", 16, runs=7, random_bias=True, step="published", dtype="float64")  # some go direct
    straight = trained(config, 27 * R // 10, "compiled", log_every=R // 10)
    monkeypatch.setattr(reduced, "CHUNK_NETWORKS", 3)
    split = trained(config, 27 * R // 10, "compiled", log_every=R // 10, jobs=2)
    stopped = trained(config, 27 * R // 20, "compiled", log_every=R // 10)     # stops between rebuilds, twice
    assert stopped.restart["epoch"] == R
    reduced.advance(stopped, 2 * R, R // 10)
    assert stopped.restart is None
    reduced.advance(stopped, 27 * R // 10, R // 10)
    for state in (split, stopped):
        assert_same_records(straight, state)
        assert all(torch.equal(A, B) for A, B in zip(straight.params, state.params))
        assert torch.equal(straight.loss, state.loss)


def test_a_chunk_given_as_read_only_arrays_trains():
    """joblib hands a worker arrays over 1 MB as read-only memory maps (n >= 2048 at 25 networks per
    chunk): the chunk trains on copies and gives the numbers of writable arrays."""
    config = StarConfig("cross", 8, runs=3, step="published", dtype="float64")
    state = TrainingState.initial(config, CPU)
    task = reduced.chunk_tasks(state, 0, state.params, 300, 100, False)[0]
    frozen = dict(task)
    for key in ("U", "c", "first"):
        frozen[key] = task[key].copy()
        frozen[key].flags.writeable = False
    writable, read_only = reduced.train_chunk(task), reduced.train_chunk(frozen)
    for key in ("U", "c", "first", "logs"):
        np.testing.assert_array_equal(writable[key], read_only[key])


# ----------------------------------------------------------------------------- the choice
def test_engine_choice():
    relu64 = StarConfig("cross", 4, runs=2, dtype="float64")
    assert reduced.choose_engine("auto", relu64, CPU) == "compiled"
    for config in (relu64.replace(dtype="float32"), relu64.replace(layers=2), relu64.replace(activation="tanh")):
        assert reduced.choose_engine("auto", config, CPU) == "torch"
        with pytest.raises(UsageError, match="--engine compiled trains one hidden layer"):
            reduced.choose_engine("compiled", config, CPU)
    assert reduced.choose_engine("auto", relu64, torch.device("cuda")) == "torch"
    assert reduced.choose_engine("auto", relu64, CPU, recorded="torch") == "torch"
    with pytest.raises(UsageError, match="trained by the torch engine"):
        reduced.choose_engine("compiled", relu64, CPU, recorded="torch")
    with pytest.raises(UsageError, match="--engine must be one of"):
        reduced.choose_engine("fast", relu64, CPU)


# ----------------------------------------------------------------------------- the command line
@pytest.mark.slow
def test_ctrl_c_then_the_same_command_gives_the_straight_run(tmp_path):
    """train --engine compiled --jobs 2 interrupted right after its first checkpoint (exit 130; the
    run is held there by tests/gated_star_run.py, so the verdict depends on no timing), then run
    again to the end: the records and parameters of one straight run in this process."""
    import json
    import os
    import signal

    from conftest import start_script, wait_for

    options = dict(dataset="cross", width=16, runs=60, step="published", dtype="float64")
    argv = ["train", *[f"--{key}={value}" for key, value in options.items()], "--epochs=40000",
            "--checkpoint_every=4000", "--log_every=2000", "--jobs=2", "--engine=compiled"]
    folder = StarConfig(**options).folder(tmp_path / "results")
    gate = tmp_path / "gate"
    gate.mkdir()
    process = start_script("tests/gated_star_run.py", gate, *argv, cwd=tmp_path, start_new_session=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    wait_for(lambda: (gate / "held").exists() or process.poll() is not None, "the first checkpoint")
    if process.poll() is None:  # held after its first checkpoint (else it failed, and the assertion says how)
        os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 130 and "Traceback" not in stderr, stderr
    assert 0 < TrainingState.load(folder, CPU).epoch < 40000
    finished = start_script("train_star_dataset.py", *argv, cwd=tmp_path)
    assert finished.wait(timeout=300) == 0, finished.stderr.read()
    _, straight = training.train(StarConfig(**options), 40000, CPU, tmp_path / "straight", log_every=2000,
                                 checkpoint_every=4000, engine="compiled")
    resumed = TrainingState.load(folder, CPU)
    assert_same_records(straight, resumed)
    assert all(torch.equal(A, B) for A, B in zip(straight.params, resumed.params))
    assert json.loads((folder / "result.json").read_text())["kink_epoch"] == straight.kink_epoch.tolist()
