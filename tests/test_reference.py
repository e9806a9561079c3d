"""The vectorised reference SNN against the scalar transcription of the spec (tests/spec_model.py)
and the exact ANN against the reference, on random networks and edge cases."""
import pytest
import torch

from catsnn.host.backends import AnnBackend, ReferenceBackend
from catsnn.host.evaluate import compare
from catsnn.numerics import NO_SPIKE
from catsnn.reference.snn import ReferenceSNN

from helpers import random_artifact, random_images
import spec_model


def check_against_spec(art, images):
    r = ReferenceSNN(art).run(images)
    for n in range(images.shape[0]):
        maps, pots = spec_model.run(art, images[n].tolist())
        for li, (m, t) in enumerate(zip(maps, r.spike_times)):
            got = t[n].tolist()
            if got != m:
                ch = next(c for c in range(len(m)) if m[c] != got[c])
                pytest.fail(f"image {n} layer {li} channel {ch}: expected {m[ch]}, got {got[ch]}")
        assert r.potentials[n].tolist() == pots, f"image {n} potentials"
    return r


def check_ann(art, images):
    ref, ann = ReferenceBackend(art).run(images), AnnBackend(art).run(images)
    bad, first = compare(ref, ann, art, 0)
    assert not bad.any(), first


CASES = {
    "T4": dict(spec=[4, "P", 6, "P"], T=4),
    "T8": dict(spec=[4, 6, "P", 8, "P"], T=8),
    "T16": dict(spec=[5, "P", 6, "P"], T=16),
    "negative_k": dict(spec=[4, "P", 4, "P"], T=8, ks=[-3, -2, -1]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_reference_equals_spec_and_ann(case):
    art = random_artifact(**CASES[case], seed=sorted(CASES).index(case))
    images = random_images(3)
    r = check_against_spec(art, images)
    spiking = torch.cat([(t != NO_SPIKE).flatten() for t in r.spike_times]).float().mean()
    assert 0.05 < spiking < 0.95, f"degenerate test network (spike fraction {spiking:.2f})"
    check_ann(art, random_images(20, seed=5))


def test_no_spikes_at_all():
    art = random_artifact([4, "P", 4, "P"], T=8, bias_offset=-50.0, bias_scale=0.0)
    r = check_against_spec(art, random_images(2))
    assert all((t == NO_SPIKE).all() for t in r.spike_times)
    assert (r.output_spikes == 0).all() and (r.sops[:, 1:] == 0).all()
    check_ann(art, random_images(5))


def test_every_neuron_spikes_at_t0_with_all_max_weights():
    # every weight +2^-k (code 0), huge positive bias: all neurons fire at t = 0, the
    # accumulator sees its worst case
    art = random_artifact([4, "P", 4, "P"], T=8, code_hi=0, zero_frac=0.0, positive_only=True,
                          bias_offset=40.0, bias_scale=0.0, ks=[0, 0, 0])
    images = torch.full((2, 3, 8, 8), 255, dtype=torch.uint8)
    r = check_against_spec(art, images)
    assert all((t == 0).all() for t in r.spike_times)
    bound = 1 << (art.acc_bits - 1)
    assert r.potentials.abs().max() < bound
    check_ann(art, images)


def test_exact_plan_splits_wide_sums():
    # T = 16 and fan-in 576 with every weight at the same magnitude: one float32 sum could
    # reach 576 * 2^15 > 2^24, so the reference must split the inputs into digit planes
    art = random_artifact([64, "P", 64, "P"], T=16, size=4, code_hi=0, zero_frac=0.0,
                          positive_only=True, bias_offset=-0.2, bias_scale=0.3, ks=[0, 0, 0])
    snn = ReferenceSNN(art)
    assert snn.layers[1][1].in_planes > 1
    images = random_images(2, size=4)
    check_against_spec(art, images)
    check_ann(art, images)


def test_event_counts_by_hand():
    # one input pixel lit, a 1-channel conv with only the centre tap: 1 input event and
    # 1 synaptic operation in layer 0
    art = random_artifact([1, "P"], T=8, size=4, classes=2, ks=[0, 0])
    l0 = art.layers[0]
    l0.codes[:] = 15
    l0.codes[0, 0, 1, 1] = 0
    img = torch.zeros(1, 3, 4, 4, dtype=torch.uint8)
    img[0, 0, 2, 2] = 200
    r = ReferenceSNN(art).run(img)
    assert r.input_events[0, 0] == 1 and r.sops[0, 0] == 1
    # a corner pixel reaches only the taps that land inside the map
    l0.codes[:] = 0
    img[:] = 0
    img[0, 1, 0, 0] = 9
    r = ReferenceSNN(art).run(img)
    assert r.sops[0, 0] == 4


def test_bad_image_shape_is_refused():
    art = random_artifact([4, "P"], T=8)
    with pytest.raises(ValueError, match="uint8"):
        ReferenceSNN(art).run(torch.zeros(1, 3, 8, 8))


def test_compare_finds_and_names_the_first_mismatch():
    art = random_artifact(**CASES["T8"], seed=3)
    images = random_images(4)
    ref = ReferenceBackend(art).run(images)
    got = ReferenceBackend(art).run(images)
    got.spike_times[1][2, 3, 1, 0] = 0 if got.spike_times[1][2, 3, 1, 0] != 0 else 1
    got.potentials[3, 4] += 1
    bad, first = compare(ref, got, art, offset=100)
    assert bad.tolist() == [False, False, True, True]
    assert first.startswith("image 102: layer 1 spike time, channel 3 position (1, 0)")
