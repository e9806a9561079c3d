"""The reference of the time-stepped codings (rate, phase, burst): docs/numerics.md, "Other
neural codings". The specification, as reference/snn.py is for log-TTFS.

Vectorised over images and whole spike trains: a layer's input at step t is its input layer's
output at step t (no delay), so each layer runs after the previous one has produced all T
steps. The synaptic drive of every step comes from one batch of exact float32 convolutions
(reference/snn.py's ExactPlan: each part an integer exact in float32), recombined as int32
integers where one step's drive fits (else int64); the neurons then step through t in
integers (units of 2^-F), int32 where the whole window's accumulator bound fits, else int64.
Speed (the neuron loop is memory-bound): the neurons are stepped in cache-sized blocks, and
phase coding convolves 0/1 inputs times a per-step power of two (benchmarks/reference_speed.py
--coded).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as Fn

from catsnn.artifact import ModelArtifact
from catsnn.numerics import PIXEL_FRAC_BITS
from catsnn.reference.snn import ExactPlan, check_images, exact_parts, layer_setup

STEP_BATCH = 2048        # images x steps per convolution batch (memory)
NEURON_BLOCK = 1 << 16   # neurons stepped together (their state stays in the cache)


@dataclass
class CodedResult:
    totals: list             # per firing layer: int64 (N, C, H, W) after pooling, units of S
    potentials: torch.Tensor  # int64 (N, classes), units of 2^-F
    input_events: torch.Tensor   # int64 (N, layers)
    sops: torch.Tensor           # int64 (N, layers)
    output_spikes: torch.Tensor  # int64 (N, layers); 0 for the last layer

    @property
    def predictions(self) -> torch.Tensor:
        return self.potentials.argmax(1)


def pool_gated(acc: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """2x2 pooling of one step's outputs ``out``: in each window the output of the member with
    the largest accumulated value ``acc``, ties to the first of (0,0), (0,1), (1,0), (1,1)
    (a later member wins only when strictly larger)."""
    best, res = acc[..., 0::2, 0::2], out[..., 0::2, 0::2]
    for dy, dx in ((0, 1), (1, 0), (1, 1)):
        a = acc[..., dy::2, dx::2]
        take = a > best
        best = torch.where(take, a, best)
        res = torch.where(take, out[..., dy::2, dx::2], res)
    return res


def exact_integer_sum(x: torch.Tensor, plan: ExactPlan, op, scale: int,
                      dtype: torch.dtype, row_scale: torch.Tensor | None = None) -> torch.Tensor:
    """2^scale * sum(x * w) as integers of ``dtype``, through the plan's exact float32
    parts of reference/snn.py's exact_parts (exact_synaptic_sum recombines them in float64);
    ``row_scale`` (float32 powers of two, one per row of x) multiplies each row's sum.

    Each part is an integer exact in float32; times a power of two it stays exact, and its
    magnitude is at most the layer's per-step bound (< 2^(acc_bits - 1)), so the conversion
    is exact; the parts' integer sum is then the exact sum (two's complement addition)."""
    total = None
    for part, e in exact_parts(x, plan, op):
        part = part.mul_(float(2 ** (e + scale)))
        if row_scale is not None:
            part.mul_(row_scale.view(-1, *[1] * (part.dim() - 1)))
        part = part.to(dtype)
        total = part if total is None else total.add_(part)
    return total


class CodedSNN:
    def __init__(self, art: ModelArtifact):
        if not art.coding.timed:
            raise ValueError("CodedSNN runs rate, phase and burst models; log-TTFS is "
                             "reference/snn.py")
        self.art, self.coding = art, art.coding
        # one step's drive is at most 1/T of the window's accumulator bound (artifact.py:
        # accumulator_bound): int32 where it fits (the neuron loop is memory-bound); the
        # potentials, which integrate the whole window, in int32 only where acc_bits allows
        self.dtype = torch.int32 if art.acc_bits - (art.T.bit_length() - 1) <= 32 \
            else torch.int64
        self.v_dtype = torch.int32 if art.acc_bits <= 32 else torch.int64
        K, B = art.coding.period, art.coding.max_burst
        # a spike's value in units of S: 1 (rate), up to 2^(K-1) (phase), up to 2^B (burst).
        # Phase is computed on bits: every nonzero input of one step carries the same value
        # 2^e(t) (the pixels' bit-plane, the spikes' phase), so a step's drive is the
        # convolution of its 0/1 inputs times 2^e(t) -- inputs up to 1 need fewer exact
        # float32 bands than inputs up to 2^(K-1).
        top = 1 << {"rate": 0, "phase": 0, "burst": B}[art.coding.name]
        first = 1 if art.coding.name == "phase" else 255
        self.layers = [layer_setup(art, i, l, PIXEL_FRAC_BITS if i == 0 else art.coding.unit_exp,
                                   first if i == 0 else top) for i, l in enumerate(art.layers)]

    def inputs(self, pixels: torch.Tensor) -> tuple[torch.Tensor, list | None]:
        """Layer 0's input at every step, float32 (T, N, C, H, W) in units of 2^-8; for
        phase the bits and their exponents e(t) (input = bit * 2^e(t)), else None."""
        T, c = self.art.T, self.coding
        p = pixels.float()
        if c.name != "phase":
            return p.unsqueeze(0).expand(T, *p.shape), None
        steps, exps = [], []
        for t in range(T):
            j = t % c.period
            if j > 7:
                steps.append(torch.zeros_like(p))
                exps.append(0)
            else:            # bit 7 - j of p, worth 2^-(j+1) = 2^(7-j) units of 2^-8
                steps.append(((pixels >> (7 - j)) & 1).float())
                exps.append(7 - j)
        return torch.stack(steps), exps

    def phase_exps(self) -> list:
        """A hidden layer's spike exponents: a spike at phase j carries 2^(K-1-j) S."""
        K = self.coding.period
        return [K - 1 - t % K for t in range(self.art.T)]

    def drive(self, x: torch.Tensor, layer, exps: list | None) -> torch.Tensor:
        """The synaptic drive of every step, (T, N, ...) integers in units of 2^-F: int32
        where it fits (see __init__), else int64. ``exps``: step t's inputs are x * 2^exps[t]."""
        l, plan, _, shift = layer
        T, n = x.shape[:2]
        flat = x.reshape(T * n, *x.shape[2:])
        rows = None if exps is None else \
            torch.tensor([2.0 ** e for e in exps]).repeat_interleave(n)
        out = []
        for i in range(0, T * n, STEP_BATCH):
            part = flat[i:i + STEP_BATCH]
            rs = None if rows is None else rows[i:i + STEP_BATCH]
            if l.kind == "conv3x3":   # channels last: oneDNN's faster layout (1.6x here)
                out.append(exact_integer_sum(part.contiguous(memory_format=torch.channels_last),
                                             plan, lambda a, w: Fn.conv2d(a, w, padding=1),
                                             shift, self.dtype, rs))
            else:
                out.append(exact_integer_sum(part.flatten(1), plan, torch.matmul, shift,
                                             self.dtype, rs))
        d = torch.cat(out) if len(out) > 1 else out[0]
        return d.view(T, n, *d.shape[1:])

    @torch.no_grad()
    def run(self, pixels: torch.Tensor) -> CodedResult:
        """pixels: uint8 (N, C, H, W); in chunks of at most STEP_BATCH image-steps."""
        art = self.art
        check_images(pixels, art)
        chunk = max(1, STEP_BATCH // art.T)
        parts = [self._run(pixels[i:i + chunk]) for i in range(0, pixels.shape[0], chunk)]
        if len(parts) == 1:
            return parts[0]
        return CodedResult([torch.cat(z) for z in zip(*[p.totals for p in parts])],
                           *[torch.cat([getattr(p, f) for p in parts]) for f in
                             ("potentials", "input_events", "sops", "output_spikes")])

    def _run(self, pixels: torch.Tensor) -> CodedResult:
        art, c = self.art, self.coding
        T, F = art.T, art.frac_bits
        n = pixels.shape[0]
        x, exps = self.inputs(pixels)
        totals, ev_in, sops, spikes = [], [], [], []
        events = torch.count_nonzero(x.flatten(2), dim=0)               # (N, inputs)
        for li, layer in enumerate(self.layers):
            l, _, reach, _ = layer
            ev_in.append(events.sum(1))
            sops.append((events.double() @ reach).round().to(torch.int64))
            d = self.layer_drive(x, layer, exps, first=li == 0)
            if not l.fires:          # the output layer integrates: no threshold, no reset
                steps_with_bias = T if c.name != "phase" else T // c.period
                potentials = d.sum(0, dtype=torch.int64) + l.bias * steps_with_bias
                spikes.append(torch.zeros(n, dtype=torch.int64))
                break
            y, fired, total, nonzero = self.neurons(d, l)
            spikes.append(fired)
            totals.append(total)
            events = nonzero.flatten(1)  # the next layer's input events
            exps = self.phase_exps() if c.name == "phase" else None
            x = y.float()            # the next layer's input, units of S (exact: <= 2^15)
        return CodedResult(totals, potentials, torch.stack(ev_in, 1), torch.stack(sops, 1),
                           torch.stack(spikes, 1))

    def neurons(self, d: torch.Tensor, l) -> tuple[torch.Tensor, ...]:
        """Step the neurons of one firing layer through the window: d, the drive of every
        step (T, N, C, H, W), integers in units of 2^-F. Returns the spikes of every step after
        pooling, int32 (T, N, C, H', W') -- their values in units of S, for phase their bits
        (a phase-j spike carries 2^(K-1-j) S) --, each image's spike count (before pooling),
        and per output: the sum of its spike values (int64, units of S) and the number of steps
        with a spike (the next layer's input events).

        The loop runs over slices of NEURON_BLOCK elements per step, so that a slice's state
        (potential, counts) stays in the cache through the T steps: the loop is
        memory-bound, and whole-batch steps stream every state tensor from memory T times."""
        art, c = self.art, self.coding
        T, F, K, B = art.T, art.frac_bits, c.period, c.max_burst
        n = d.shape[1]
        dt = self.v_dtype
        out_shape = list(d.shape[2:])
        if l.pool:
            out_shape[-2:] = [out_shape[-2] // 2, out_shape[-1] // 2]
        if d.dim() == 5:      # the drive's layout (channels last: see drive)
            bias = l.bias.to(dt).view(-1, 1, 1)
            y = torch.empty(T * n, *out_shape, dtype=torch.int32,
                            memory_format=torch.channels_last).view(T, n, *out_shape)
        else:
            bias = l.bias.to(dt)
            y = torch.empty(T, n, *out_shape, dtype=torch.int32)
        total, nonzero = torch.empty_like(y[0], dtype=torch.int64), torch.empty_like(y[0])
        fired_per_image = torch.empty(n, dtype=torch.int64)
        per_image = d[0, 0].numel()
        step = max(1, NEURON_BLOCK // per_image)
        for i in range(0, n, step):
            dd, yy = d[:, i:i + step], y[:, i:i + step]
            v = torch.empty_like(dd[0], dtype=dt).fill_(1 << (F - c.unit_exp - 1))
            fired = torch.zeros_like(v)                                 # spikes per neuron
            acc = torch.zeros_like(dd[0], dtype=torch.int32) if l.pool else None
            run_len = torch.zeros_like(v) if c.name == "burst" else None
            tot, nz = total[i:i + step].zero_(), nonzero[i:i + step].zero_()
            for t in range(T):
                j = t % K if c.name == "phase" else 0
                v.add_(dd[t])
                if c.name != "phase" or j == 0:
                    v.add_(bias)
                if c.name == "burst":       # threshold 2^(F+m), m = min(B, spikes in a row)
                    m = run_len.clamp(max=B)
                    fire = (v >= torch.bitwise_left_shift(torch.ones_like(m), m + F)).to(dt)
                    v.sub_(torch.bitwise_left_shift(fire, m + F))
                    out = torch.bitwise_left_shift(fire, m)
                    run_len.add_(1).mul_(fire)
                else:
                    shift = F if c.name == "rate" else F - j - 1
                    fire = (v >= (1 << shift)).to(dt)
                    v.sub_(fire, alpha=1 << shift)
                    out = fire
                fired.add_(fire)
                value = 1 << (K - 1 - j) if c.name == "phase" else 1     # of a 1 in out
                if l.pool:
                    acc.add_(out, alpha=value)
                    out = pool_gated(acc, out)
                yy[t] = out
                tot.add_(out, alpha=value)
                if c.name == "burst":
                    nz.add_(out != 0)
                elif c.name == "phase":
                    nz.add_(out)
            fired_per_image[i:i + step] = fired.flatten(1).sum(1)
        return y, fired_per_image, total, total if c.name == "rate" else nonzero

    def layer_drive(self, x: torch.Tensor, layer, exps: list | None,
                    first: bool) -> torch.Tensor:
        """The drive of every step, (T, N, ...). Layer 0 repeats its input (rate and burst:
        the same pixels every step; phase: the same bit-plane at the same phase), so its
        drive is computed once per distinct input and indexed."""
        if not first:
            return self.drive(x, layer, exps)
        T, c = self.art.T, self.coding
        distinct = 1 if c.name != "phase" else min(T, c.period)
        d = self.drive(x[:distinct], layer, None if exps is None else exps[:distinct])
        return d[[t % distinct for t in range(T)]] if distinct > 1 else d.expand(T, *d.shape[1:])
