"""Replay buffer: Binomial fresh fraction, FIFO, labels, uint8 storage, checkpoints."""

from __future__ import annotations

import math

import torch

from genzoo.samplers.replay import ReplayBuffer, uniform_init


def filled(capacity=100, **kw) -> ReplayBuffer:
    buf = ReplayBuffer(capacity, (2,), uniform_init(-1.0, 1.0), **kw)
    buf.push(torch.rand(capacity, 2) * 2 - 1, torch.arange(capacity) % 3)
    return buf


def test_fresh_count_is_binomial():
    torch.manual_seed(0)
    buf = filled(p_new=0.05)
    n, trials = 500, 400
    counts = torch.tensor([float((buf.sample(n)[2] == -1).sum()) for _ in range(trials)])
    mean, var = n * 0.05, n * 0.05 * 0.95
    assert abs(counts.mean().item() - mean) < 4 * (var / trials) ** 0.5
    assert 0.75 < counts.var().item() / var < 1.3  # Bernoulli per item: not exactly n * p_new


def test_empty_buffer_gives_all_fresh_with_uniform_labels():
    torch.manual_seed(0)
    buf = ReplayBuffer(10, (3,), uniform_init(0.0, 1.0), p_new=0.0, num_classes=4)
    x, y, index = buf.sample(400)
    assert (index == -1).all() and x.shape == (400, 3) and x.min() >= 0 and x.max() <= 1
    assert set(y.tolist()) == {0, 1, 2, 3}


def test_fifo_eviction_keeps_the_newest():
    buf = ReplayBuffer(5, (1,), uniform_init(0.0, 1.0), p_new=0.0)
    for v in range(7):
        buf.push(torch.tensor([[float(v)]]))
    assert len(buf) == 5 and sorted(buf.x.flatten().tolist()) == [2, 3, 4, 5, 6]
    buf.push(torch.arange(10.0, 13.0).view(3, 1))  # evicts 2, 3, 4
    assert sorted(buf.x.flatten().tolist()) == [5, 6, 10, 11, 12]


def test_stored_items_come_back_with_their_labels_and_per_class():
    torch.manual_seed(0)
    buf = filled(p_new=0.0)
    x, y, index = buf.sample(200)
    assert torch.equal(x, buf.x[index]) and torch.equal(y, buf.y[index])
    wanted = torch.full((50,), 2)
    x, y, index = buf.sample(50, y=wanted)
    assert (buf.y[index] == 2).all() and (y == 2).all()


def test_uint8_storage_round_trip_error_is_below_one_level():
    buf = ReplayBuffer(1000, (3, 4, 4), uniform_init(-1.0, 1.0), p_new=0.0,
                       uint8_range=(-1.0, 1.0))
    x = torch.rand(1000, 3, 4, 4) * 2 - 1
    buf.push(x)
    assert buf.x.dtype == torch.uint8
    back, _, index = buf.sample(1000)
    assert (back - x[index]).abs().max().item() <= 2 / 255  # (high - low) / 255


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    buf = filled(capacity=50, p_new=0.1, num_classes=3)
    buf.push(torch.rand(7, 2))
    torch.save(buf.state_dict(), tmp_path / "b.pt")
    other = ReplayBuffer(50, (2,), uniform_init(-1.0, 1.0), p_new=0.1, num_classes=3)
    other.load_state_dict(torch.load(tmp_path / "b.pt", weights_only=True))
    assert torch.equal(other.x, buf.x) and torch.equal(other.y, buf.y)
    assert (other.size, other.head) == (buf.size, buf.head)
    torch.manual_seed(5)
    a = buf.sample(20)
    torch.manual_seed(5)
    b = other.sample(20)
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))


def test_to_keeps_contents_and_returns_the_buffer():
    buf = filled(capacity=10)
    before = buf.x.clone()
    assert buf.to("cpu") is buf and torch.equal(buf.x, before)


def test_p_new_override_and_items():
    buf = filled(p_new=0.5)
    _, _, index = buf.sample(300, p_new=0.0)
    assert (index >= 0).all()  # every item stored, despite the buffer's p_new
    _, _, index = buf.sample(300, p_new=1.0)
    assert (index == -1).all()
    x, y = buf.items(torch.tensor([4, 5]))
    assert torch.equal(x, buf.x[4:6]) and y.tolist() == [1, 2]


def test_item_ages_count_the_chains_and_min_age_filters():
    buf = ReplayBuffer(8, (1,), uniform_init(0.0, 1.0), p_new=0.0)
    buf.push(torch.zeros(4, 1))
    assert buf.age[:4].tolist() == [1, 1, 1, 1]
    x, _, index = buf.sample(3)
    buf.push(x + 1, index=index)  # chains run once more from stored items
    assert buf.age[4:7].tolist() == [2, 2, 2]
    buf.push(torch.full((1, 1), 5.0), index=torch.tensor([-1]))  # a chain from a fresh draw
    assert buf.age[7].item() == 1
    x, _, index = buf.sample(200, min_age=2)
    assert (index >= 4).all() and (index < 7).all() and (x == 1).all()
    _, _, index = buf.sample(5, min_age=3)
    assert (index == -1).all()  # none old enough: fresh draws


def test_ages_round_trip_and_old_checkpoints_load():
    buf = filled(capacity=10)
    buf.age[:5] = 7
    other = ReplayBuffer(10, (2,), uniform_init(-1.0, 1.0))
    other.load_state_dict(buf.state_dict())
    assert torch.equal(other.age, buf.age)
    legacy = {k: v for k, v in buf.state_dict().items() if k != "age"}
    other.load_state_dict(legacy)
    assert (other.age == 1).all()


def test_label_entropy_is_one_when_balanced_zero_when_collapsed_and_exact_between():
    buf = ReplayBuffer(8, (1,), uniform_init(0, 1), num_classes=4)
    assert buf.label_entropy() is None  # empty
    buf.push(torch.zeros(8, 1), torch.tensor([0, 1, 2, 3, 0, 1, 2, 3]))
    assert abs(buf.label_entropy() - 1.0) < 1e-12
    buf.push(torch.zeros(8, 1), torch.full((8,), 2))
    assert buf.label_entropy() == 0.0
    buf.push(torch.zeros(4, 1), torch.tensor([0, 0, 1, 1]))  # half 0/1, half 2: H = 1.5 ln 2
    expected = -(0.25 * math.log(0.25) * 2 + 0.5 * math.log(0.5)) / math.log(4)
    assert abs(buf.label_entropy() - expected) < 1e-12
    assert ReplayBuffer(4, (1,), uniform_init(0, 1)).label_entropy() is None  # unlabelled


def test_p_new_decay_falls_linearly_to_zero_over_training_draws():
    buf = filled(p_new=0.4, p_new_decay=4)
    seen = []
    for _ in range(6):
        seen.append(buf.current_p_new)
        buf.sample(10)
    assert seen == [0.4, 0.4 * 3 / 4, 0.4 * 2 / 4, 0.4 * 1 / 4, 0.0, 0.0]
    assert buf.draws == 6
    buf.sample(10, p_new=1.0)  # an explicit p_new is not a training draw
    assert buf.draws == 6
    _, _, index = buf.sample(2000)
    assert (index >= 0).all()  # decayed: only persistent chains
    assert filled(p_new=0.4).current_p_new == 0.4  # no decay: constant


def test_draw_count_round_trips_and_old_checkpoints_start_at_zero():
    buf = filled(capacity=10, p_new=0.2, p_new_decay=10)
    for _ in range(3):
        buf.sample(4)
    other = ReplayBuffer(10, (2,), uniform_init(-1.0, 1.0), p_new=0.2, p_new_decay=10)
    other.load_state_dict(buf.state_dict())
    assert other.draws == 3 and other.current_p_new == buf.current_p_new
    other.load_state_dict({k: v for k, v in buf.state_dict().items() if k != "draws"})
    assert other.draws == 0
