"""The log-TTFS processor core: runs a whole conv3x3/fc log-TTFS SNN from a layer program.

Event-driven and multiplier-free (issue 3). Per layer:

1. LOAD: read the layer's program words; build the P-entry table ``p * stride`` (by additions).
2. INIT: every membrane word <- the bias of its channel.
3. SCAN: the *scanner* walks the layer input (the image for layer 0: one pixel per cycle; a
   spike map otherwise: one word of P channels per cycle) and pushes every event (nonzero pixel,
   or spike) into a FIFO. The *synapse engine* pops an event and, for each tap that lands on the
   output map and each group of P output channels, issues one cycle: P weight codes read in
   parallel, P shift-adds ``V += +-(x << (base - t - c))`` into P membrane banks. Four-stage
   pipeline (weight read / register / shift / read-modify-write) forwarding the last write, so
   consecutive updates of the same neuron are exact. A neuron that did not spike costs nothing
   but a bit in the scanner's word.
4. FIRE: read every membrane, leading-one encode it (spike time or none), take the earliest in
   each 2x2 window when the layer pools, and write the output spike map (ping-pong: layer l
   writes map l % 2, layer l+1 reads it). The last (fc) layer does not fire: its membranes hold
   the output potentials.

Every address is a counter stepped by additions of strides the host precomputed
(``core_config.LayerPlan.program_words``): there is no ``*`` anywhere in this file.

Interface: one Wishbone slave (32-bit words) reaching the registers, layer program, image,
weights, biases, membranes, both spike maps and the per-layer counters (``core_config`` has the
map); ``with_csr=True`` adds LiteX CSRs (control, status, layer) for a SoC. Step mode pauses after
every layer so a host can read that layer's spike map (bit-exact checks, debugging).
"""
from functools import reduce
from operator import add

from migen import Array, Cat, If, Memory, Module, Mux, Replicate, Signal, READ_FIRST
from migen.genlib.fifo import SyncFIFO
from migen.genlib.fsm import FSM, NextState, NextValue

from litex.soc.interconnect import wishbone
from litex.soc.interconnect.csr import AutoCSR, CSRStatus, CSRStorage

from catsnn.gateware.core_config import (COUNTERS, CTRL_CONTINUE, CTRL_START, CTRL_STEP,
                                         LANES_PER_WORD, MAP_NO_SPIKE, PROGRAM_WORDS, REG_CTRL,
                                         REG_CYCLES, REG_NLAYERS, REG_PROGRAM, REG_STATUS,
                                         REGION_BIAS, REGION_COUNTERS, REGION_IMAGE,
                                         REGION_MAP0, REGION_MAP1, REGION_MEMBRANE, REGION_REGS,
                                         REGION_WEIGHT, STATUS_BUSY, STATUS_DONE,
                                         STATUS_PAUSED, CoreConfig, clog2, info_registers,
                                         lane_groups)
from catsnn.gateware.log_ttfs_blocks import LeadingOneEncoder, ShiftAddPE, TapAddressGenerator

REGS = 16          # register words before the layer program


def popcount(bits):
    return reduce(add, [bits[i] for i in range(len(bits))])


def bit(mask):
    """The bit index of a one-bit mask such as CTRL_START."""
    assert mask and mask & (mask - 1) == 0
    return mask.bit_length() - 1


def indexed(entries: dict, n: int, width: int = 32):
    """entries {index: value} as a list of n, zeros elsewhere (for an Array mux)."""
    return [entries.get(i, Signal(width)) for i in range(n)]


class LogTTFSCore(Module, AutoCSR):
    def __init__(self, cfg: CoreConfig = CoreConfig(), with_csr=False):
        P, A = cfg.pe, cfg.acc_bits
        self.cfg = cfg
        # interface
        self.bus = wishbone.Interface(data_width=32)
        self.busy = Signal()          # running a program (not paused)
        self.done = Signal()          # sticky: the last run finished
        self.paused = Signal()        # step mode: a layer finished, waiting for continue
        self.layer = Signal(8)        # layer being run (or just finished, when paused)
        self.start = Signal()         # pulse (also CTRL bit 0 over the bus)
        self.resume = Signal()        # pulse (also CTRL bit 2)
        self.step_mode = Signal()     # stored (CTRL bit 1)
        if with_csr:
            self.control = CSRStorage(size=3, description=(
                "bit 0: start the program (pulse); bit 1: step mode (pause after every layer); "
                "bit 2: continue after a pause (pulse)"))
            self.status = CSRStatus(3, description="bit 0 busy, bit 1 done, bit 2 paused")
            self.current_layer = CSRStatus(8, description="layer running or just finished")

        # # #

        wb = self.bus
        DB = cfg.dim_bits
        PB = 2 * DB                                   # positions y*W+x
        WAB = clog2(cfg.weight_depth) + 1
        MAB = clog2(cfg.membrane_depth) + 1
        NAB = clog2(cfg.map_depth) + 1
        IAB = clog2(cfg.image_depth) + 1
        rs = cfg.region_shift
        LB = clog2(cfg.max_layers)

        # ---------------- memories ----------------
        def mem(width, depth, name):
            m = Memory(width, depth, name=name)
            self.specials += m
            return m
        # one table of shapes (CoreConfig.memory_shapes), also used by the block RAM estimate
        shapes = cfg.memory_shapes()

        def mems(name):
            width, depth, count = shapes[name]
            return [mem(width, depth, name if count == 1 else f"{name}{i}") for i in range(count)]
        (wmem,), bmem, vmem, smem = mems("weights"), mems("biases"), mems("membranes"), \
            mems("spike_map")
        (imem,), (pmem,), (cmem,) = mems("image"), mems("layer_program"), mems("layer_counters")

        def ports(m, write=True):
            r = m.get_port(mode=READ_FIRST)
            w = m.get_port(write_capable=True) if write else None
            self.specials += [r] + ([w] if w is not None else [])
            return r, w
        wr_, br_, vr_, ir_, pr_, cr_ = (ports(wmem), [ports(m) for m in bmem],
                                        [ports(m) for m in vmem], ports(imem), ports(pmem),
                                        ports(cmem))
        sr_ = [ports(m) for m in smem]

        # ---------------- control / layer registers ----------------
        nlayers = Signal(LB + 1)
        bus_owned = Signal()                   # engine idle or paused: the bus owns the ports
        first, pool, fc, fires = Signal(), Signal(), Signal(), Signal()
        T = Signal(5)
        frac = Signal(6)                        # the model's F
        base = Signal(8)
        cin, gin = Signal(16), Signal(16)
        H, W = Signal(DB), Signal(DB)
        G, HW = Signal(16), Signal(16)
        wbase, s_ci, s_word, bbase = Signal(WAB), Signal(WAB), Signal(WAB), Signal(16)
        tab = [Signal(WAB, name=f"tab{p}") for p in range(P)]     # p * s_ci
        tab_a = Array(tab)
        cycles_total = Signal(32)
        c_cycles, c_events, c_sops, c_spikes = (Signal(32) for _ in range(4))
        out_sel = Signal()                      # which map this layer writes (layer % 2)
        self.comb += out_sel.eq(self.layer[0])

        # layer program read
        load_i = Signal(4)
        load_word = Signal(32)
        self.comb += load_word.eq(pr_[0].dat_r)
        tab_i = Signal(7)
        tab_acc = Signal(WAB)

        # ---------------- INIT ----------------
        init_g, init_pos, init_addr = Signal(16), Signal(16), Signal(MAB)
        init_we = Signal()
        bias_rd = Signal(16)

        # ---------------- scanner ----------------
        fifo_layout_bits = PB + 2 * DB + 8 + 5 + WAB
        fifo = SyncFIFO(fifo_layout_bits, cfg.fifo_depth)
        self.submodules.fifo = fifo
        scan_start, scan_done = Signal(), Signal()
        ev_pos, ev_y, ev_x = Signal(PB), Signal(DB), Signal(DB)
        ev_mag, ev_t, ev_w = Signal(8), Signal(5), Signal(WAB)
        push = Signal()
        self.comb += [fifo.din.eq(Cat(ev_pos, ev_y, ev_x, ev_mag, ev_t, ev_w)), fifo.we.eq(push)]
        # walk counters shared by both scanners
        sc_pos, sc_y, sc_x = Signal(PB), Signal(DB), Signal(DB)
        sc_ch = Signal(16)                      # channel (image) or input group (map)
        sc_addr = Signal(max(IAB, NAB))
        sc_wrow = Signal(WAB)                   # weight row of (channel or group, position)
        sc_posw = Signal(WAB)                   # fc: position * G
        sc_last = Signal()                      # the word/pixel issued is the last one
        sc_issue = Signal()
        # the item in flight (read issued, data next cycle)
        pend_pos, pend_y, pend_x = Signal(PB), Signal(DB), Signal(DB)
        pend_w, pend_valid, pend_last = Signal(WAB), Signal(), Signal()
        at_end_of_row = Signal()
        at_end_of_map = Signal()
        self.comb += [at_end_of_row.eq(sc_x == W - 1), at_end_of_map.eq(at_end_of_row & (sc_y == H - 1))]
        row_w = Signal(WAB)
        self.comb += row_w.eq(sc_wrow + Mux(fc, sc_posw, 0))
        self.sync += If(sc_issue,
            pend_pos.eq(sc_pos), pend_y.eq(sc_y), pend_x.eq(sc_x), pend_w.eq(row_w),
            pend_last.eq(sc_last),
            sc_addr.eq(sc_addr + 1),
            If(at_end_of_map,
                sc_pos.eq(0), sc_x.eq(0), sc_y.eq(0), sc_posw.eq(0), sc_ch.eq(sc_ch + 1),
                sc_wrow.eq(sc_wrow + Mux(first, s_ci, s_word))
            ).Else(
                sc_pos.eq(sc_pos + 1), sc_posw.eq(sc_posw + G),
                If(at_end_of_row, sc_x.eq(0), sc_y.eq(sc_y + 1)).Else(sc_x.eq(sc_x + 1))
            )
        )
        self.comb += sc_last.eq(at_end_of_map & (sc_ch == Mux(first, cin, gin) - 1))

        # image scanner: one pixel per cycle; a nonzero pixel is an event (mag = p, t = 8)
        img_run = Signal()
        pixel = Signal(8)
        self.comb += pixel.eq(ir_[0].dat_r)
        # map scanner: one word (P channels) per fetch; events leave one per cycle
        map_state = Signal(2)                   # 0 idle, 1 latch (data arriving), 2 emit
        MS_IDLE, MS_LATCH, MS_EMIT = 0, 1, 2
        in_times = [Signal(5, name=f"in_t{p}") for p in range(P)]
        word_times = [Signal(5, name=f"word_t{p}") for p in range(P)]
        word_mask, live_mask = Signal(P), Signal(P)
        word_pos, word_y, word_x, word_w, word_last = Signal(PB), Signal(DB), Signal(DB), \
            Signal(WAB), Signal()
        in_sel = Signal()
        self.comb += in_sel.eq(~out_sel)
        for p in range(P):
            self.comb += in_times[p].eq(Mux(in_sel, sr_[1][0].dat_r[5 * p:5 * p + 5],
                                            sr_[0][0].dat_r[5 * p:5 * p + 5]))
        self.comb += live_mask.eq(Cat(*[t != MAP_NO_SPIKE for t in in_times]))
        # lowest set bit of the word being emitted
        pick = Signal(max(1, clog2(P)))
        pick_chain = None
        for p in reversed(range(P)):
            st = If(word_mask[p], pick.eq(p))
            pick_chain = st if pick_chain is None else st.Else(pick_chain)
        self.comb += [pick.eq(0), pick_chain]
        word_rest = Signal(P)                   # the word's events after this one
        clear_onehot = Signal(P)
        self.comb += [clear_onehot.eq(1 << pick), word_rest.eq(word_mask & ~clear_onehot)]

        scan_addr = Signal(max(IAB, NAB))
        self.comb += scan_addr.eq(sc_addr)
        fifo_room = Signal()
        self.comb += fifo_room.eq(fifo.level < cfg.fifo_depth - 2)

        self.sync += [
            If(scan_start,
                sc_pos.eq(0), sc_x.eq(0), sc_y.eq(0), sc_ch.eq(0), sc_addr.eq(0),
                sc_wrow.eq(wbase), sc_posw.eq(0), pend_valid.eq(0), scan_done.eq(0),
                img_run.eq(first), map_state.eq(Mux(first, MS_IDLE, MS_LATCH)),
            ),
        ]
        # image scanner
        self.comb += If(img_run & fifo_room & ~scan_start, sc_issue.eq(1))
        self.sync += If(~scan_start & first,
            pend_valid.eq(sc_issue),
            If(sc_issue & sc_last, img_run.eq(0)),
            If(pend_valid & pend_last, scan_done.eq(1)),
        )
        img_push = Signal()
        self.comb += img_push.eq(first & pend_valid & (pixel != 0))
        # map scanner: LATCH registers the fetched word as it is (the block RAM's output drives
        # no control: it was the critical path), EMIT sends its events one per cycle, or
        # fetches the next word at once when the latched word has none. The first fetch is
        # issued in LATCH with nothing pending.
        map_issue = Signal()
        word_empty = Signal()
        self.comb += word_empty.eq(word_mask == 0)
        self.sync += If(~scan_start & ~first,
            If(map_state == MS_LATCH,
                If(~pend_valid,
                    pend_valid.eq(1)                      # initial fetch issued this cycle
                ).Else(
                    *[word_times[p].eq(in_times[p]) for p in range(P)],
                    word_mask.eq(live_mask), word_pos.eq(pend_pos), word_y.eq(pend_y),
                    word_x.eq(pend_x), word_w.eq(pend_w), word_last.eq(pend_last),
                    pend_valid.eq(0), map_state.eq(MS_EMIT)
                )
            ).Elif(map_state == MS_EMIT,
                If(word_empty | (fifo_room & (word_rest == 0)),
                    If(word_last, scan_done.eq(1), map_state.eq(MS_IDLE)).Else(
                        map_state.eq(MS_LATCH), pend_valid.eq(1))
                ).Elif(fifo_room, word_mask.eq(word_rest))
            )
        )
        self.comb += If(~scan_start & ~first,
            If(map_state == MS_LATCH,
                If(~pend_valid, map_issue.eq(1))
            ).Elif((map_state == MS_EMIT) & ~word_last &
                   (word_empty | (fifo_room & (word_rest == 0))),
                map_issue.eq(1)),
            sc_issue.eq(map_issue)
        )
        map_push = Signal()
        self.comb += map_push.eq(~first & (map_state == MS_EMIT) & fifo_room & ~word_empty)
        self.comb += [
            push.eq(img_push | map_push),
            If(first,
                ev_pos.eq(pend_pos), ev_y.eq(pend_y), ev_x.eq(pend_x), ev_mag.eq(pixel),
                ev_t.eq(8), ev_w.eq(pend_w)
            ).Else(
                ev_pos.eq(word_pos), ev_y.eq(word_y), ev_x.eq(word_x), ev_mag.eq(1),
                ev_t.eq(Array(word_times)[pick]), ev_w.eq(word_w + tab_a[pick])
            )
        ]
        # note: in the fc layer the image is never the input, and a map word's weight row
        # already includes position * G (sc_posw)

        # ---------------- synapse engine: address generator ----------------
        ag = TapAddressGenerator(PB, DB, WAB, MAB)
        self.submodules.ag = ag
        scanning = Signal()
        self.comb += [
            ag.fc.eq(fc), ag.H.eq(H), ag.W.eq(W), ag.G.eq(G), ag.HW.eq(HW),
            ag.ev_valid.eq(scanning & fifo.readable), fifo.re.eq(ag.ev_ready),
            Cat(ag.ev_pos, ag.ev_y, ag.ev_x, ag.ev_mag, ag.ev_t, ag.ev_w).eq(fifo.dout),
        ]
        ag_active, cur_w, cur_m = ag.op_valid, ag.waddr, ag.maddr

        # ---------------- synapse engine: the P shift-add lanes ----------------
        # stage 0: weight word read at cur_w; stage 1: the word registered (the block RAM's
        # output then drives no logic: it was the critical path); stage 2: terms (barrel
        # shifts), membrane read at m1; stage 3: read-modify-write at m2, the last write
        # forwarded when m1 == m2
        v0, v1, v2, fwd2 = Signal(), Signal(), Signal(), Signal()
        m0, m1, m2 = Signal(MAB), Signal(MAB), Signal(MAB)
        mag0, t0_, mag1, t1 = Signal(8), Signal(5), Signal(8), Signal(5)
        codes1 = Signal(5 * P)
        self.sync += [
            v0.eq(ag_active), m0.eq(cur_m), mag0.eq(ag.mag), t0_.eq(ag.t),
            v1.eq(v0), m1.eq(m0), mag1.eq(mag0), t1.eq(t0_), codes1.eq(wr_[0].dat_r),
            v2.eq(v1), m2.eq(m1), fwd2.eq(v1 & v2 & (m1 == m2)),
        ]
        nz2 = Signal(P)
        vnew = []
        for p in range(P):
            pe = ShiftAddPE(A)
            self.submodules += pe
            vlast = Signal((A, True), name=f"vlast{p}")
            self.comb += [
                pe.valid.eq(v1), pe.x.eq(mag1), pe.t.eq(t1), pe.base.eq(base),
                pe.code.eq(codes1[5 * p:5 * p + 5]),
                pe.v_in.eq(Mux(fwd2, vlast, vr_[p][0].dat_r)),
                nz2[p].eq(pe.active),
            ]
            self.sync += If(v2, vlast.eq(pe.v_out))
            vnew.append(pe.v_out)

        # ---------------- FIRE ----------------
        fire_run = Signal()
        fa, fwin = Signal(MAB + 1), Signal(MAB + 1)   # read address; window top-left
        fm = Signal(2)
        fx, fy, fg = Signal(DB), Signal(DB), Signal(16)
        Wo, Ho = Signal(DB), Signal(DB)
        self.comb += [Wo.eq(Mux(pool, W >> 1, W)), Ho.eq(Mux(pool, H >> 1, H))]
        f_last_member = Signal()
        self.comb += f_last_member.eq(~pool | (fm == 3))
        f_last = Signal()
        self.comb += f_last.eq(f_last_member & (fx == Wo - 1) & (fy == Ho - 1) & (fg == G - 1))
        fire_start, fire_done = Signal(), Signal()
        fr_valid, fr_first, fr_write = Signal(), Signal(), Signal()
        fr_last = Signal()
        fq_valid, fq_first, fq_write, fq_last = Signal(), Signal(), Signal(), Signal()
        fe_valid, fe_first, fe_write, fe_last = Signal(), Signal(), Signal(), Signal()
        f_waddr = Signal(NAB)
        member_off = Signal(MAB + 1)
        self.comb += member_off.eq(Mux(fm[1], W, 0) + fm[0])
        self.comb += fa.eq(fwin + Mux(pool, member_off, 0))
        self.sync += [
            If(fire_start,
                fire_run.eq(1), fwin.eq(0), fm.eq(0), fx.eq(0), fy.eq(0), fg.eq(0),
                f_waddr.eq(0), fr_valid.eq(0), fire_done.eq(0)
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
            fr_valid.eq(fire_run & ~fire_start), fr_first.eq(~pool | (fm == 0)),
            fr_write.eq(f_last_member), fr_last.eq(f_last & fire_run),
            # the membrane word is registered before the encoder (timing): one more stage
            fq_valid.eq(fr_valid), fq_first.eq(fr_first), fq_write.eq(fr_write),
            fq_last.eq(fr_last),
            fe_valid.eq(fq_valid), fe_first.eq(fq_first), fe_write.eq(fq_write),
            fe_last.eq(fq_last),
            If(fe_valid & fe_write, f_waddr.eq(f_waddr + 1)),
            If(fe_valid & fe_last, fire_done.eq(1)),
        ]
        fire_bits = Signal(P)
        f_out = []
        for p in range(P):
            enc = LeadingOneEncoder(A, T_max=16)
            self.submodules += enc
            tv, tmin, tw = Signal(5, name=f"tv{p}"), Signal(5, name=f"tmin{p}"), \
                Signal(5, name=f"tw{p}")
            v_reg = Signal((A, True), name=f"vfire{p}")
            self.sync += v_reg.eq(vr_[p][0].dat_r)
            # stage q: the word registered; stage e: its spike time registered, then the
            # earliest of the pooling window
            t_reg, fire_reg = Signal(4, name=f"tfire{p}"), Signal(name=f"fires{p}")
            self.comb += [enc.v.eq(v_reg), enc.T.eq(T), enc.F.eq(frac)]
            self.sync += [t_reg.eq(enc.t), fire_reg.eq(enc.fire)]
            self.comb += [tv.eq(Mux(fire_reg, t_reg, MAP_NO_SPIKE)),
                          fire_bits[p].eq(fire_reg & fe_valid),
                          tw.eq(Mux(fe_first | (tv < tmin), tv, tmin))]
            self.sync += If(fe_valid, tmin.eq(tw))
            f_out.append(tw)

        # ---------------- the layer sequencer ----------------
        fsm = FSM(reset_state="IDLE")
        self.submodules.fsm = fsm
        cnt_i = Signal(3)
        self.comb += scanning.eq(fsm.ongoing("SCAN"))
        pipeline_empty = Signal()
        self.comb += pipeline_empty.eq(scan_done & ~fifo.readable & ~ag_active & ~v0 & ~v1 & ~v2
                                       & ~scan_start)
        self.comb += bus_owned.eq(fsm.ongoing("IDLE") | fsm.ongoing("PAUSED"))
        self.comb += [self.busy.eq(~bus_owned), self.paused.eq(fsm.ongoing("PAUSED"))]
        load_addr = Signal(LB + 4)
        self.comb += load_addr.eq(Cat(load_i[:3], self.layer[:LB]))
        fields = [Signal(32, name=f"prog{i}") for i in range(PROGRAM_WORDS)]
        self.comb += [
            first.eq(fields[0][0]), pool.eq(fields[0][1]), fc.eq(fields[0][2]),
            fires.eq(fields[0][3]), T.eq(fields[0][8:13]), base.eq(fields[0][16:24]),
            frac.eq(fields[0][24:30]),
            cin.eq(fields[1][:16]), gin.eq(fields[1][16:]), H.eq(fields[2][:DB]),
            W.eq(fields[2][16:16 + DB]), G.eq(fields[3][:16]), HW.eq(fields[3][16:]),
            wbase.eq(fields[4]), s_ci.eq(fields[5]), s_word.eq(fields[6]),
            bbase.eq(fields[7]),
        ]
        counters_reset = Signal()
        self.comb += counters_reset.eq(fsm.ongoing("LOAD") & (load_i == PROGRAM_WORDS))
        self.sync += If(~bus_owned, cycles_total.eq(cycles_total + 1))
        self.sync += If(counters_reset,
            c_cycles.eq(0), c_events.eq(0), c_sops.eq(0), c_spikes.eq(0)
        ).Else(
            c_cycles.eq(c_cycles + 1),
            If(push, c_events.eq(c_events + 1)),
            If(v2, c_sops.eq(c_sops + popcount(nz2))),
            c_spikes.eq(c_spikes + popcount(fire_bits)),
        )
        cnt_w = Signal(32)
        self.comb += cnt_w.eq(Array([c_cycles, c_events, c_sops, c_spikes])[cnt_i[:2]])

        fsm.act("IDLE",
            If(self.start,
                NextValue(self.layer, 0), NextValue(cycles_total, 0), NextValue(self.done, 0),
                NextState("LOAD"), NextValue(load_i, 0)
            )
        )
        fsm.act("LOAD",     # word i is read at cycle i and captured at cycle i + 1
            NextValue(load_i, load_i + 1),
            *[If(load_i == i + 1, NextValue(fields[i], load_word)) for i in range(PROGRAM_WORDS)],
            If(load_i == PROGRAM_WORDS,
                NextValue(tab_i, 0), NextValue(tab_acc, 0),
                NextState("TABLE"))
        )
        fsm.act("TABLE",
            NextValue(tab_a[tab_i[:max(1, clog2(P))]], tab_acc),
            NextValue(tab_acc, tab_acc + s_ci), NextValue(tab_i, tab_i + 1),
            If(tab_i == P - 1,
                NextValue(init_g, 0), NextValue(init_pos, 0), NextValue(init_addr, 0),
                NextValue(bias_rd, bbase), NextState("INIT_BIAS"))
        )
        fsm.act("INIT_BIAS", NextState("INIT"))        # bias read latency
        fsm.act("INIT",
            init_we.eq(1),
            NextValue(init_addr, init_addr + 1),
            If(init_pos == Mux(fc, 0, HW - 1),
                NextValue(init_pos, 0), NextValue(init_g, init_g + 1),
                NextValue(bias_rd, bias_rd + 1),
                If(init_g == G - 1, NextState("SCAN_START")).Else(NextState("INIT_BIAS"))
            ).Else(NextValue(init_pos, init_pos + 1))
        )
        fsm.act("SCAN_START", scan_start.eq(1), NextState("SCAN"))
        fsm.act("SCAN",
            If(pipeline_empty,
                If(fires, NextState("FIRE_START")).Else(NextState("FINISH"), NextValue(cnt_i, 0)))
        )
        fsm.act("FIRE_START", fire_start.eq(1), NextState("FIRE"))
        fsm.act("FIRE", If(fire_done, NextState("FINISH"), NextValue(cnt_i, 0)))
        fsm.act("FINISH",    # store this layer's counters, then the next layer
            NextValue(cnt_i, cnt_i + 1),
            If(cnt_i == len(COUNTERS) - 1,
                If(self.layer == nlayers - 1,
                    NextValue(self.done, 1), NextState("IDLE")
                ).Elif(self.step_mode,
                    NextState("PAUSED")
                ).Else(
                    NextValue(self.layer, self.layer + 1), NextValue(load_i, 0),
                    NextState("LOAD"))
            )
        )
        fsm.act("PAUSED",
            If(self.resume,
                NextValue(self.layer, self.layer + 1), NextValue(load_i, 0), NextState("LOAD"))
        )
        finishing = Signal()
        self.comb += finishing.eq(fsm.ongoing("FINISH"))

        # ---------------- Wishbone slave ----------------
        region = Signal(3)
        offset = Signal(rs)
        self.comb += [region.eq(wb.adr[rs:rs + 3]), offset.eq(wb.adr[:rs])]
        access = Signal()
        self.comb += access.eq(wb.cyc & wb.stb & ~wb.ack)
        wr = Signal()
        self.comb += wr.eq(access & wb.we)

        def split(depth, two):
            sub = offset[1:] if two else offset
            db = clog2(depth)
            return sub[:db], sub[db:db + clog2(P)]
        # weights and maps: word index << lane_group_bits | group of LANES_PER_WORD lanes
        NG = lane_groups(P)
        GB = clog2(NG)
        lane_grp = offset[:GB]
        w_idx = offset[GB:GB + clog2(cfg.weight_depth)]
        b_idx, b_bank = split(cfg.bias_depth, True)
        v_idx, v_bank = split(cfg.membrane_depth, True)
        s_idx = offset[GB:GB + clog2(cfg.map_depth)]
        hi = offset[0]
        lo_latch = Signal(32)
        self.sync += If(wr & ~hi & (region == REGION_BIAS), lo_latch.eq(wb.dat_w))
        wide_w = Signal(A)
        self.comb += wide_w.eq(Cat(lo_latch, wb.dat_w))

        # port wiring (engine when running, bus when the bus owns the ports)
        for p in range(P):
            r, w = br_[p]
            self.comb += [r.adr.eq(Mux(bus_owned, b_idx, bias_rd)),
                          w.adr.eq(b_idx), w.dat_w.eq(wide_w),
                          w.we.eq(wr & hi & bus_owned & (region == REGION_BIAS) & (b_bank == p))]
            r, w = vr_[p]
            self.comb += [r.adr.eq(Mux(bus_owned, v_idx, Mux(fire_run, fa, m1))),
                          w.adr.eq(Mux(init_we, init_addr, m2)),
                          w.dat_w.eq(Mux(init_we, br_[p][0].dat_r, vnew[p])),
                          w.we.eq(init_we | v2)]
        # weight writes: groups 0..NG-2 are staged, the last one commits the whole word
        stage = [Signal(5 * LANES_PER_WORD, name=f"wstage{j}") for j in range(NG - 1)]
        w_wr = Signal()
        self.comb += w_wr.eq(wr & bus_owned & (region == REGION_WEIGHT))
        for j in range(NG - 1):
            self.sync += If(w_wr & (lane_grp == j), stage[j].eq(wb.dat_w))
        r, w = wr_
        self.comb += [r.adr.eq(Mux(bus_owned, w_idx, cur_w)), w.adr.eq(w_idx),
                      w.dat_w.eq(Cat(*stage, wb.dat_w)),
                      w.we.eq(w_wr & (lane_grp == NG - 1))]
        for k in range(2):
            r, w = sr_[k]
            self.comb += [r.adr.eq(Mux(bus_owned, s_idx, scan_addr)),
                          w.adr.eq(f_waddr), w.dat_w.eq(Cat(*f_out)),
                          w.we.eq(fe_valid & fe_write & (out_sel == k))]
        r, w = ir_
        self.comb += [r.adr.eq(Mux(bus_owned, offset, scan_addr)), w.adr.eq(offset),
                      w.dat_w.eq(wb.dat_w), w.we.eq(wr & bus_owned & (region == REGION_IMAGE))]
        r, w = pr_
        prog_off = Signal(rs)
        self.comb += prog_off.eq(offset - REG_PROGRAM)
        is_prog = Signal()
        self.comb += is_prog.eq((region == REGION_REGS) & (offset >= REG_PROGRAM)
                                & (offset < REG_PROGRAM + cfg.max_layers * PROGRAM_WORDS))
        self.comb += [r.adr.eq(Mux(bus_owned, prog_off, load_addr)), w.adr.eq(prog_off),
                      w.dat_w.eq(wb.dat_w), w.we.eq(wr & bus_owned & is_prog)]
        r, w = cr_
        self.comb += [r.adr.eq(offset), w.adr.eq(Cat(cnt_i[:2], self.layer[:LB])),
                      w.dat_w.eq(cnt_w), w.we.eq(finishing)]

        # registers
        ctrl_w = Signal()
        self.comb += ctrl_w.eq(wr & (region == REGION_REGS) & (offset == REG_CTRL))
        start_bus, resume_bus = Signal(), Signal()
        self.comb += [start_bus.eq(ctrl_w & wb.dat_w[bit(CTRL_START)]),
                      resume_bus.eq(ctrl_w & wb.dat_w[bit(CTRL_CONTINUE)])]
        self.sync += [
            If(ctrl_w, self.step_mode.eq(wb.dat_w[bit(CTRL_STEP)])),
            If(wr & (region == REGION_REGS) & (offset == REG_NLAYERS), nlayers.eq(wb.dat_w)),
        ]
        status_word = Signal(32)      # STATUS_* bits, the layer in bits 8..15
        self.comb += [status_word[bit(STATUS_BUSY)].eq(self.busy),
                      status_word[bit(STATUS_DONE)].eq(self.done),
                      status_word[bit(STATUS_PAUSED)].eq(self.paused),
                      status_word[8:16].eq(self.layer)]
        regs = {REG_STATUS: status_word, REG_NLAYERS: nlayers, REG_CYCLES: cycles_total}
        regs.update({k: Signal(32, reset=v) for k, v in info_registers(cfg).items()})
        reg_r = Signal(32)
        self.sync += reg_r.eq(Array(indexed(regs, REGS))[offset[:clog2(REGS)]])
        # read data: selected at the request, valid with ack (memories have one cycle latency)
        rsel_region, rsel_bank, rsel_hi, rsel_prog, rsel_reg = Signal(3), Signal(8), Signal(), \
            Signal(), Signal()
        self.sync += [
            wb.ack.eq(access),
            If(access,
                rsel_region.eq(region), rsel_hi.eq(hi), rsel_prog.eq(is_prog),
                rsel_reg.eq(offset < REGS),
                rsel_bank.eq(Array(indexed({REGION_BIAS: b_bank, REGION_WEIGHT: lane_grp,
                                            REGION_MEMBRANE: v_bank, REGION_MAP0: lane_grp,
                                            REGION_MAP1: lane_grp}, 8))[region]))
        ]

        def wide(dat):
            full = Signal(64)
            self.comb += full.eq(Cat(dat, Replicate(dat[-1], 64 - A)))
            return Mux(rsel_hi, full[32:], full[:32])
        bank_mux = lambda sigs: Array(sigs)[rsel_bank]  # noqa: E731

        def lanes(word):   # the group of LANES_PER_WORD lanes selected by the address
            return Array([word[5 * LANES_PER_WORD * j:5 * LANES_PER_WORD * (j + 1)]
                          for j in range(NG)])[rsel_bank]
        self.comb += wb.dat_r.eq(Mux(~bus_owned & (rsel_region != REGION_REGS), 0,
            Array(indexed({
                REGION_REGS: Mux(rsel_prog, pr_[0].dat_r, Mux(rsel_reg, reg_r, 0)),
                REGION_IMAGE: ir_[0].dat_r,
                REGION_BIAS: bank_mux([wide(br_[p][0].dat_r) for p in range(P)]),
                REGION_WEIGHT: lanes(wr_[0].dat_r),
                REGION_MEMBRANE: bank_mux([wide(vr_[p][0].dat_r) for p in range(P)]),
                REGION_MAP0: lanes(sr_[0][0].dat_r),
                REGION_MAP1: lanes(sr_[1][0].dat_r),
                REGION_COUNTERS: cr_[0].dat_r,
            }, 8))[rsel_region]))

        # starts from the bus or the interface
        self.comb += [If(start_bus, self.start.eq(1)), If(resume_bus, self.resume.eq(1))]
        if with_csr:
            self.comb += [
                If(self.control.re & self.control.storage[bit(CTRL_START)], self.start.eq(1)),
                If(self.control.re & self.control.storage[bit(CTRL_CONTINUE)],
                   self.resume.eq(1)),
                self.status.status.eq(status_word[:3]),
                self.current_layer.status.eq(self.layer),
            ]
            self.sync += If(self.control.re,
                            self.step_mode.eq(self.control.storage[bit(CTRL_STEP)]))
