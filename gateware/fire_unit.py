"""The fire unit: membranes -> the layer's output spike map.

After the scan, the unit reads every membrane word (P banks at once), encodes each potential as
a spike time with the leading-one detector (``log_ttfs_blocks.LeadingOneEncoder``: the model's F
and T at run time) and writes one spike-map word of P lanes per output position, in the order
group, row, column. When the layer pools, it reads the four members of each 2x2 window in a row
(top-left, top-right, bottom-left, bottom-right) and keeps the earliest spike. A lane that does
not fire holds ``MAP_NO_SPIKE``.

Pipeline: read (address ``read_addr``), register the word, register the spike time, then the
window's minimum and the write. ``spikes`` flags the lanes that fired (before pooling) for the
layer's counter.
"""
from migen import Cat, If, Module, Mux, Signal

from catsnn.gateware.core_config import MAP_NO_SPIKE, CoreConfig
from catsnn.gateware.core_layouts import CoreWidths
from catsnn.gateware.log_ttfs_blocks import LeadingOneEncoder


class FireUnit(Module):
    def __init__(self, cfg: CoreConfig):
        P, A, w = cfg.pe, cfg.acc_bits, CoreWidths.of(cfg)
        # interface: the layer
        self.pool = Signal()
        self.H, self.W, self.G = Signal(w.dim), Signal(w.dim), Signal(16)
        self.T, self.frac = Signal(5), Signal(6)
        self.start = Signal()
        self.done = Signal()              # sticky from the last write until start
        self.running = Signal()           # reading membranes
        # interface: the membrane banks (one cycle read latency)
        self.read_addr = Signal(w.maddr + 1)
        self.read_data = [Signal((A, True), name=f"vfire_rd{p}") for p in range(P)]
        # interface: the spike map
        self.map_base = Signal(16)        # the first spike-map word this entry writes
        self.write_addr = Signal(w.naddr)
        self.write_data = Signal(5 * P)
        self.write_en = Signal()
        self.spikes = Signal(P)

        # # #

        DB, MAB = w.dim, w.maddr
        pool, H, W, G = self.pool, self.H, self.W, self.G
        fire_run = self.running
        fa, fwin = self.read_addr, Signal(MAB + 1)   # read address; window top-left
        fm = Signal(2)
        fx, fy, fg = Signal(DB), Signal(DB), Signal(16)
        Wo, Ho = Signal(DB), Signal(DB)
        self.comb += [Wo.eq(Mux(pool, W >> 1, W)), Ho.eq(Mux(pool, H >> 1, H))]
        f_last_member = Signal()
        self.comb += f_last_member.eq(~pool | (fm == 3))
        f_last = Signal()
        self.comb += f_last.eq(f_last_member & (fx == Wo - 1) & (fy == Ho - 1) & (fg == G - 1))
        # stage r: the read issued; q: the word registered; e: the spike time registered
        fr_valid, fr_first, fr_write, fr_last = Signal(), Signal(), Signal(), Signal()
        fq_valid, fq_first, fq_write, fq_last = Signal(), Signal(), Signal(), Signal()
        fe_valid, fe_first, fe_write, fe_last = Signal(), Signal(), Signal(), Signal()
        f_waddr = self.write_addr
        member_off = Signal(MAB + 1)
        self.comb += member_off.eq(Mux(fm[1], W, 0) + fm[0])
        self.comb += fa.eq(fwin + Mux(pool, member_off, 0))
        self.sync += [
            If(self.start,
                fire_run.eq(1), fwin.eq(0), fm.eq(0), fx.eq(0), fy.eq(0), fg.eq(0),
                f_waddr.eq(self.map_base), fr_valid.eq(0), self.done.eq(0)
            ).Elif(fire_run,
                If(f_last, fire_run.eq(0)),
                If(~f_last_member,
                    fm.eq(fm + 1)
                ).Else(
                    fm.eq(0),
                    If(fx == Wo - 1,
                        fx.eq(0), fwin.eq(fwin + Mux(pool, W + 2, 1)),
                        If(fy == Ho - 1, fy.eq(0), fg.eq(fg + 1)).Else(fy.eq(fy + 1))
                    ).Else(fx.eq(fx + 1), fwin.eq(fwin + Mux(pool, 2, 1)))
                )
            ),
            fr_valid.eq(fire_run & ~self.start), fr_first.eq(~pool | (fm == 0)),
            fr_write.eq(f_last_member), fr_last.eq(f_last & fire_run),
            fq_valid.eq(fr_valid), fq_first.eq(fr_first), fq_write.eq(fr_write),
            fq_last.eq(fr_last),
            fe_valid.eq(fq_valid), fe_first.eq(fq_first), fe_write.eq(fq_write),
            fe_last.eq(fq_last),
            If(fe_valid & fe_write, f_waddr.eq(f_waddr + 1)),
            If(fe_valid & fe_last, self.done.eq(1)),
        ]
        self.comb += self.write_en.eq(fe_valid & fe_write)
        f_out = []
        for p in range(P):
            enc = LeadingOneEncoder(A, T_max=16)
            self.submodules += enc
            tv, tmin, tw = Signal(5, name=f"tv{p}"), Signal(5, name=f"tmin{p}"), \
                Signal(5, name=f"tw{p}")
            v_reg = Signal((A, True), name=f"vfire{p}")
            self.sync += v_reg.eq(self.read_data[p])
            t_reg, fire_reg = Signal(4, name=f"tfire{p}"), Signal(name=f"fires{p}")
            self.comb += [enc.v.eq(v_reg), enc.T.eq(self.T), enc.F.eq(self.frac)]
            self.sync += [t_reg.eq(enc.t), fire_reg.eq(enc.fire)]
            self.comb += [tv.eq(Mux(fire_reg, t_reg, MAP_NO_SPIKE)),
                          self.spikes[p].eq(fire_reg & fe_valid),
                          tw.eq(Mux(fe_first | (tv < tmin), tv, tmin))]
            self.sync += If(fe_valid, tmin.eq(tw))
            f_out.append(tw)
        self.comb += self.write_data.eq(Cat(*f_out))
