"""The event scanner: walks a layer's input and sends every event into a stream.

Layer 0 reads the image, one pixel per cycle: a nonzero pixel p is an event (mag = p, t = 8).
Later layers read the previous layer's spike map, one word of P channels per fetch: every
channel that spiked is an event (mag = 1, t = its spike time), one per cycle, lowest channel
first; a word without spikes costs one cycle. Order: input channel (image) or input group
(map), then position y*W + x. Each event carries the weight row of its input channel
(``wbase + c*s_ci`` for a pixel of channel c, ``wbase + g*s_word + tab[p]`` for channel p of
group g, plus ``pos*G`` in an fc layer), so the synapse engine needs no multiplier.

Events leave through a FIFO (``source``, a LiteX stream of ``core_layouts.event_layout``): the
memory read is pipelined, so the walk stops while the FIFO has fewer than three free places.
"""
from migen import Array, Cat, If, Module, Mux, Signal

from litex.soc.interconnect import stream

from catsnn.gateware.core_config import MAP_NO_SPIKE, CoreConfig, clog2
from catsnn.gateware.core_layouts import CoreWidths, event_layout, layer_params


class EventScanner(Module):
    def __init__(self, cfg: CoreConfig):
        P, w = cfg.pe, CoreWidths.of(cfg)
        # interface: the layer, and a start pulse
        self.params = layer_params(w)
        self.tab = [Signal(w.waddr, name=f"tab{p}") for p in range(P)]   # p * s_ci
        self.start = Signal()
        self.done = Signal()               # sticky from the last event pushed until start
        # interface: input memories (one cycle read latency)
        self.addr = Signal(w.scan_addr)    # image byte or spike-map word
        self.pixel = Signal(8)             # image data read at addr
        self.map_word = Signal(5 * P)      # spike-map data read at addr
        # interface: events out
        self.source = stream.Endpoint(event_layout(w))
        self.event = Signal()              # an event enters the FIFO this cycle (counters)

        # # #

        DB, PB, WAB = w.dim, w.pos, w.waddr
        lp = self.params
        first, fc, H, W, G = lp.first, lp.fc, lp.H, lp.W, lp.G
        self.submodules.fifo = fifo = stream.SyncFIFO(event_layout(w), cfg.fifo_depth)
        self.comb += fifo.source.connect(self.source)
        ev = fifo.sink
        push = self.event
        self.comb += ev.valid.eq(push)
        fifo_room = Signal()
        self.comb += fifo_room.eq(fifo.level < cfg.fifo_depth - 2)

        # ---------------- the walk (shared by both inputs) ----------------
        sc_pos, sc_y, sc_x = Signal(PB), Signal(DB), Signal(DB)
        sc_ch = Signal(16)                      # channel (image) or input group (map)
        sc_addr = self.addr
        sc_wrow = Signal(WAB)                   # weight row of (channel or group, position)
        sc_posw = Signal(WAB)                   # fc: position * G
        sc_last = Signal()                      # the word/pixel issued is the last one
        sc_issue = Signal()
        # the item in flight (read issued, data next cycle)
        pend_pos, pend_y, pend_x = Signal(PB), Signal(DB), Signal(DB)
        pend_w, pend_valid, pend_last = Signal(WAB), Signal(), Signal()
        at_end_of_row = Signal()
        at_end_of_map = Signal()
        self.comb += [at_end_of_row.eq(sc_x == W - 1),
                      at_end_of_map.eq(at_end_of_row & (sc_y == H - 1))]
        row_w = Signal(WAB)
        self.comb += row_w.eq(sc_wrow + Mux(fc, sc_posw, 0))
        self.sync += If(sc_issue,
            pend_pos.eq(sc_pos), pend_y.eq(sc_y), pend_x.eq(sc_x), pend_w.eq(row_w),
            pend_last.eq(sc_last),
            sc_addr.eq(sc_addr + 1),
            If(at_end_of_map,
                sc_pos.eq(0), sc_x.eq(0), sc_y.eq(0), sc_posw.eq(0), sc_ch.eq(sc_ch + 1),
                sc_wrow.eq(sc_wrow + Mux(first, lp.s_ci, lp.s_word))
            ).Else(
                sc_pos.eq(sc_pos + 1), sc_posw.eq(sc_posw + G),
                If(at_end_of_row, sc_x.eq(0), sc_y.eq(sc_y + 1)).Else(sc_x.eq(sc_x + 1))
            )
        )
        self.comb += sc_last.eq(at_end_of_map & (sc_ch == Mux(first, lp.cin, lp.gin) - 1))

        # ---------------- image input: one pixel per cycle ----------------
        img_run = Signal()
        # ---------------- map input: one word (P channels) per fetch ----------------
        map_state = Signal(2)
        MS_IDLE, MS_LATCH, MS_EMIT = 0, 1, 2
        in_times = [self.map_word[5 * p:5 * p + 5] for p in range(P)]
        word_times = [Signal(5, name=f"word_t{p}") for p in range(P)]
        word_mask, live_mask = Signal(P), Signal(P)
        word_pos, word_y, word_x, word_w, word_last = Signal(PB), Signal(DB), Signal(DB), \
            Signal(WAB), Signal()
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

        start = self.start
        self.sync += [
            If(start,
                sc_pos.eq(0), sc_x.eq(0), sc_y.eq(0), sc_ch.eq(0), sc_addr.eq(0),
                sc_wrow.eq(lp.wbase), sc_posw.eq(0), pend_valid.eq(0), self.done.eq(0),
                img_run.eq(first), map_state.eq(Mux(first, MS_IDLE, MS_LATCH)),
            ),
        ]
        # image input
        self.comb += If(img_run & fifo_room & ~start, sc_issue.eq(1))
        self.sync += If(~start & first,
            pend_valid.eq(sc_issue),
            If(sc_issue & sc_last, img_run.eq(0)),
            If(pend_valid & pend_last, self.done.eq(1)),
        )
        img_push = Signal()
        self.comb += img_push.eq(first & pend_valid & (self.pixel != 0))
        # map input: LATCH registers the fetched word as it is (the block RAM's output drives
        # no control logic, for timing), EMIT sends its events one per cycle, or fetches the
        # next word at once when the latched word has none. The first fetch is issued in LATCH
        # with nothing pending.
        map_issue = Signal()
        word_empty = Signal()
        self.comb += word_empty.eq(word_mask == 0)
        self.sync += If(~start & ~first,
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
                    If(word_last, self.done.eq(1), map_state.eq(MS_IDLE)).Else(
                        map_state.eq(MS_LATCH), pend_valid.eq(1))
                ).Elif(fifo_room, word_mask.eq(word_rest))
            )
        )
        self.comb += If(~start & ~first,
            If(map_state == MS_LATCH,
                If(~pend_valid, map_issue.eq(1))
            ).Elif((map_state == MS_EMIT) & ~word_last &
                   (word_empty | (fifo_room & (word_rest == 0))),
                map_issue.eq(1)),
            sc_issue.eq(map_issue)
        )
        map_push = Signal()
        self.comb += map_push.eq(~first & (map_state == MS_EMIT) & fifo_room & ~word_empty)
        # the event (in an fc layer a map word's weight row already includes pos * G)
        self.comb += [
            push.eq(img_push | map_push),
            If(first,
                ev.pos.eq(pend_pos), ev.y.eq(pend_y), ev.x.eq(pend_x), ev.mag.eq(self.pixel),
                ev.t.eq(8), ev.w.eq(pend_w)
            ).Else(
                ev.pos.eq(word_pos), ev.y.eq(word_y), ev.x.eq(word_x), ev.mag.eq(1),
                ev.t.eq(Array(word_times)[pick]), ev.w.eq(word_w + Array(self.tab)[pick])
            )
        ]
