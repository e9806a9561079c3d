/* catsnn firmware: the SoC's CPU serves the framed protocol of host/protocol.py over the UART
 * and drives the log-TTFS core (gateware/log_ttfs_core.py) through its Wishbone window.
 *
 * It never acts on a frame it could not check (CRC, length, arguments), answers every
 * delimited frame (an error reply names what was wrong), skips line noise until the next
 * magic, and bounds every wait (inter-byte timeout inside a frame, cycle limit on a run).
 * Model images stream straight into the core's memories chunk by chunk (they are larger than
 * the CPU's RAM); the whole image's CRC-32 is checked at the end before the model is used.
 */
#include <stdint.h>
#include <string.h>

#include <generated/csr.h>
#include <generated/mem.h>
#include <generated/soc.h>

#if defined(CSR_SDRAM_BASE) && !defined(CATSNN_SDRAM_READY)
#define CATSNN_SDRAM_INIT 1
#include <liblitedram/sdram.h>
#endif

#include "protocol.h"     /* generated from host/protocol.py */
#include "core_regs.h"    /* generated from gateware/core_config.py */

#ifndef UART_EV_TX
#define UART_EV_TX 0x1
#define UART_EV_RX 0x2
#endif

#define CORE ((volatile uint32_t *)SNN_BASE)
#define TICKS_PER_MS (CONFIG_CLOCK_FREQUENCY / 1000)
#define RUN_TIMEOUT_TICKS 0xF0000000u

static inline uint32_t core_rd(uint32_t region, uint32_t off) {
    return CORE[(region << CORE_REGION_SHIFT) | off];
}
static inline void core_wr(uint32_t region, uint32_t off, uint32_t v) {
    CORE[(region << CORE_REGION_SHIFT) | off] = v;
}

/* ---------------------------------------------------------------- time (timer0, down counter) */
static void timer_init(void) {
    timer0_en_write(0);
    timer0_reload_write(0xffffffff);
    timer0_load_write(0xffffffff);
    timer0_en_write(1);
}
static inline uint32_t ticks(void) {
    timer0_update_value_write(1);
    return 0xffffffff - timer0_value_read();
}

/* ---------------------------------------------------------------- UART, polled */
static int rx_byte(uint32_t timeout_ticks) {   /* -1 on timeout; 0 = wait forever */
    if (uart_rxempty_read()) {         /* only start the clock when there is a wait */
        uint32_t t0 = ticks();
        while (uart_rxempty_read()) {
            if (timeout_ticks && ticks() - t0 > timeout_ticks) return -1;
        }
    }
    int c = uart_rxtx_read();
    uart_ev_pending_write(UART_EV_RX);
    return c;
}
static void tx_byte(uint8_t c) {
    while (uart_txfull_read());
    uart_rxtx_write(c);
    uart_ev_pending_write(UART_EV_TX);
}

/* ---------------------------------------------------------------- CRC-32 (IEEE, zlib) */
static uint32_t crc_table[256];
static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}
static uint32_t crc_update(uint32_t crc, const uint8_t *p, uint32_t n) {
    crc = ~crc;
    while (n--) crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ---------------------------------------------------------------- frames */
static uint8_t rx_buf[PROTO_MAX_PAYLOAD + 16];
static uint8_t tx_buf[PROTO_MAX_PAYLOAD + 16];

static inline uint32_t get_u32(const uint8_t *p) {
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint16_t get_u16(const uint8_t *p) { return p[0] | p[1] << 8; }
static inline void put_u32(uint8_t *p, uint32_t v) {
    p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24;
}

/* The reply to the last handled request, sent again when the same request arrives again (a
 * host resends after a lost reply): a retry never acts twice. Replies to frames that could not
 * be handled (bad CRC, truncated, oversize) are not kept. */
static struct {
    int valid;
    uint32_t request_crc;            /* the request frame's CRC (covers type, seq, length) */
    uint8_t type, seq;
    const uint8_t *payload;
    uint16_t n;
} last;
static int handling;                 /* inside handle(): its reply is the one to keep */
static int dram_ok = 1;               /* DRAM (if any) initialised and tested at boot */

static void send_frame(uint8_t type, uint8_t seq, const uint8_t *payload, uint16_t n) {
    if (handling) {
        last.type = type; last.seq = seq; last.payload = payload; last.n = n;
    }
    uint8_t head[6] = {PROTO_MAGIC_0, PROTO_MAGIC_1, type, seq, n & 0xff, n >> 8};
    uint32_t crc = crc_update(0, head + 2, 4);
    crc = crc_update(crc, payload, n);
    for (int i = 0; i < 6; i++) tx_byte(head[i]);
    for (uint16_t i = 0; i < n; i++) tx_byte(payload[i]);
    uint8_t c[4];
    put_u32(c, crc);
    for (int i = 0; i < 4; i++) tx_byte(c[i]);
}

/* error replies: a kept one (to a handled request) stays in its own buffer, so errors about
 * later bad frames cannot change what a resent request gets */
static uint8_t error_buf[2][128];

static void send_error(uint8_t seq, uint8_t code, const char *msg) {
    uint8_t *p = error_buf[handling];
    uint16_t n = 1;
    p[0] = code;
    while (*msg && n < sizeof(error_buf[0])) p[n++] = *msg++;
    send_frame(PROTO_ERROR, seq, p, n);
}

/* small formatting without printf: "text" + number */
static char msg_buf[128];
static const char *msg_num(const char *a, uint32_t x, const char *b, uint32_t y, const char *c) {
    char *o = msg_buf;
    const char *parts[3] = {a, b, c};
    uint32_t nums[2] = {x, y};
    for (int i = 0; i < 3; i++) {
        for (const char *s = parts[i]; s && *s && o < msg_buf + 100; s++) *o++ = *s;
        if (i < 2 && parts[i]) {
            char d[11];
            int k = 0;
            uint32_t v = nums[i];
            do { d[k++] = '0' + v % 10; v /= 10; } while (v);
            while (k) *o++ = d[--k];
        }
    }
    *o = 0;
    return msg_buf;
}

/* Receive one frame. Returns its payload length (its CRC in *crc_out), or -1 after answering
 * an error (or after skipping noise with nothing to answer). */
static int recv_frame(uint8_t *type, uint8_t *seq, uint32_t *crc_out) {
    int c;
    /* hunt for the magic: anything else is line noise */
    for (;;) {
        c = rx_byte(0);
        if (c != PROTO_MAGIC_0) continue;
        c = rx_byte(PROTO_FRAME_TIMEOUT_MS * TICKS_PER_MS);
        while (c == PROTO_MAGIC_0) c = rx_byte(PROTO_FRAME_TIMEOUT_MS * TICKS_PER_MS);
        if (c == PROTO_MAGIC_1) break;
    }
    uint8_t head[4];
    for (int i = 0; i < 4; i++) {
        c = rx_byte(PROTO_FRAME_TIMEOUT_MS * TICKS_PER_MS);
        if (c < 0) {   /* cut before its sequence byte: answered with sequence 0 */
            send_error(i > 1 ? head[1] : 0, PROTO_ERR_TRUNCATED, "truncated frame header");
            return -1;
        }
        head[i] = c;
    }
    *type = head[0];
    *seq = head[1];
    uint16_t n = get_u16(head + 2);
    if (n > PROTO_MAX_PAYLOAD) {
        send_error(*seq, PROTO_ERR_OVERSIZE, msg_num("payload of ", n, " bytes > ",
                                                      PROTO_MAX_PAYLOAD, ""));
        /* the announced payload and CRC are no frame: skip them (or until the line is idle
         * for FRAME_TIMEOUT_MS), then hunt for the next magic */
        for (uint32_t i = 0; i < (uint32_t)n + 4; i++)
            if (rx_byte(PROTO_FRAME_TIMEOUT_MS * TICKS_PER_MS) < 0) break;
        return -1;
    }
    for (uint32_t i = 0; i < (uint32_t)n + 4; i++) {
        c = rx_byte(PROTO_FRAME_TIMEOUT_MS * TICKS_PER_MS);
        if (c < 0) {
            send_error(*seq, PROTO_ERR_TRUNCATED, msg_num("truncated frame: ", i,
                                                           " of ", n + 4, " bytes"));
            return -1;
        }
        rx_buf[i] = c;
    }
    uint32_t crc = crc_update(crc_update(0, head, 4), rx_buf, n);
    if (crc != get_u32(rx_buf + n)) {
        send_error(*seq, PROTO_ERR_BAD_CRC, "bad CRC");
        return -1;
    }
    *crc_out = crc;
    return n;
}

/* ---------------------------------------------------------------- the core */
static uint32_t core_pe, core_acc_bits, core_max_layers, core_weight_depth, core_bias_depth,
    core_membrane_depth, core_map_depth, core_image_depth;

static void core_info(void) {
    uint32_t id = core_rd(CORE_REGION_REGS, CORE_REG_ID);
    uint32_t d0 = core_rd(CORE_REGION_REGS, CORE_REG_DEPTH0);
    core_pe = (id >> 16) & 0xff;
    core_acc_bits = d0 & 0xff;
    core_max_layers = (d0 >> 16) & 0xff;
    core_weight_depth = core_rd(CORE_REGION_REGS, CORE_REG_DEPTH1);
    uint32_t d2 = core_rd(CORE_REGION_REGS, CORE_REG_DEPTH2);
    core_membrane_depth = d2 & 0xffff;
    core_map_depth = d2 >> 16;
    uint32_t d3 = core_rd(CORE_REGION_REGS, CORE_REG_DEPTH3);
    core_bias_depth = d3 & 0xffff;
    core_image_depth = d3 >> 16;
}

static uint32_t core_status(void) { return core_rd(CORE_REGION_REGS, CORE_REG_STATUS); }

/* wait until the core stops (done or paused); 0 on timeout */
static int core_wait(void) {
    uint32_t t0 = ticks();
    while (core_status() & CORE_STATUS_BUSY) {
        if (ticks() - t0 > RUN_TIMEOUT_TICKS) return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------- model loading */
enum { MODEL_NONE, MODEL_LOADING, MODEL_OK };
static struct {
    int state;
    uint32_t total, crc_expected, received, crc;
    /* record parser */
    uint8_t head[12];
    uint32_t head_n;                   /* header bytes collected */
    uint32_t region, offset, count, done;   /* current record */
    uint8_t word[4];
    uint32_t word_n;
    int have_needs;
    uint32_t layers, classes_unused, image_bytes;
} ld;

/* returns NULL if fine, else an error message (code in *code) */
static const char *check_needs(const uint32_t *w, int *code) {
    /* w: P, acc_bits, layers, weight words, bias words, membrane words, map words, image bytes */
    *code = PROTO_ERR_DOES_NOT_FIT;
    if (w[0] != core_pe) return msg_num("model image built for P = ", w[0], ", core has P = ",
                                        core_pe, "");
    if (w[1] > core_acc_bits) return msg_num("model needs a ", w[1], "-bit accumulator, core has ",
                                             core_acc_bits, "");
    if (w[2] == 0 || w[2] > core_max_layers) return msg_num("model has ", w[2],
                                                            " layers, core holds 1..",
                                                            core_max_layers, "");
    if (w[3] > core_weight_depth) return msg_num("weights memory: model needs ", w[3],
                                                 " words per bank, core has ", core_weight_depth, "");
    if (w[4] > core_bias_depth) return msg_num("biases memory: model needs ", w[4],
                                               " words per bank, core has ", core_bias_depth, "");
    if (w[5] > core_membrane_depth) return msg_num("membranes memory: model needs ", w[5],
                                                   " words per bank, core has ", core_membrane_depth, "");
    if (w[6] > core_map_depth) return msg_num("spike maps memory: model needs ", w[6],
                                              " words per bank, core has ", core_map_depth, "");
    if (w[7] > core_image_depth) return msg_num("image memory: model needs ", w[7],
                                                " bytes, core has ", core_image_depth, "");
    ld.layers = w[2];
    ld.image_bytes = w[7];
    ld.have_needs = 1;
    return 0;
}

static uint32_t needs_words[8];

static const char *load_bytes(const uint8_t *p, uint32_t n, int *code) {
    *code = PROTO_ERR_BAD_ARGS;
    while (n) {
        if (ld.head_n < 12) {                       /* record header */
            ld.head[ld.head_n++] = *p++;
            n--;
            if (ld.head_n == 12) {
                ld.region = ld.head[0];
                ld.offset = get_u32(ld.head + 4);
                ld.count = get_u32(ld.head + 8);
                ld.done = 0;
                ld.word_n = 0;
                if (ld.region == CORE_RECORD_NEEDS) {
                    if (ld.count != 8) return "bad needs record";
                } else {
                    if (!ld.have_needs) return "model image: needs record missing";
                    /* [lo, hi): the words a record of this region may write (dense lane
                     * groups for weights); checked without overflow */
                    uint32_t lo = 0, hi = 1u << CORE_REGION_SHIFT;
                    if (ld.region == CORE_REGION_WEIGHT) {
#if CORE_EXTERNAL_WEIGHTS      /* weight bus words live in main_ram, from its start */
                        hi = MAIN_RAM_SIZE / 4;
#else
                        hi = (hi >> CORE_LANE_GROUP_BITS) * CORE_LANE_GROUPS;
#endif
                    } else if (ld.region == CORE_REGION_REGS) {
                        if (ld.offset == CORE_REG_NLAYERS) { lo = CORE_REG_NLAYERS; hi = lo + 1; }
                        else { lo = CORE_REG_PROGRAM;
                               hi = lo + core_max_layers * CORE_PROGRAM_WORDS; }
                    } else if (ld.region != CORE_REGION_BIAS) {
                        return msg_num("model image: record for region ", ld.region, 0, 0, "");
                    }
                    if (ld.offset < lo || ld.offset > hi || ld.count > hi - ld.offset)
                        return msg_num("model image: record past region end (", ld.offset,
                                       " + ", ld.count, ")");
                }
                if (ld.count == 0) ld.head_n = 0;
            }
            continue;
        }
        ld.word[ld.word_n++] = *p++;                /* record words */
        n--;
        if (ld.word_n == 4) {
            uint32_t w = get_u32(ld.word);
            ld.word_n = 0;
            if (ld.region == CORE_RECORD_NEEDS) {
                needs_words[ld.done] = w;
                if (ld.done == 7) {
                    const char *e = check_needs(needs_words, code);
                    if (e) return e;
                    *code = PROTO_ERR_BAD_ARGS;      /* later faults are bad records */
                }
            } else if (ld.region == CORE_REGION_WEIGHT) {   /* dense lane groups */
                uint32_t i = ld.offset + ld.done;
#if CORE_EXTERNAL_WEIGHTS      /* the core stages each layer from there before it runs */
                ((volatile uint32_t *)CORE_EXTERNAL_BASE)[i] = w;
#else
                core_wr(ld.region, (i / CORE_LANE_GROUPS) << CORE_LANE_GROUP_BITS |
                                   i % CORE_LANE_GROUPS, w);
#endif
            } else {
                if (ld.region == CORE_REGION_REGS && ld.offset == CORE_REG_NLAYERS &&
                    w != ld.layers)      /* the core would run past the program */
                    return msg_num("model image: layer count ", w, " differs from the needs "
                                   "record's ", ld.layers, "");
                core_wr(ld.region, ld.offset + ld.done, w);
            }
            if (++ld.done == ld.count) ld.head_n = 0;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- commands */
static void handle(uint8_t type, uint8_t seq, uint32_t n) {
    uint8_t *p = rx_buf, *o = tx_buf;
    uint32_t st;
    int code;
    const char *e;
    switch (type) {
    case PROTO_CMD_INFO:
        if (n != 0) break;
        core_info();
        put_u32(o + 0, PROTO_FIRMWARE_VERSION);
        for (int i = 0; i < CORE_INFO_REGS; i++) put_u32(o + 4 + 4 * i, core_rd(CORE_REGION_REGS, i));
        put_u32(o + 4 + 4 * CORE_INFO_REGS, ld.state);
        send_frame(type | PROTO_REPLY, seq, o, 8 + 4 * CORE_INFO_REGS);
        return;
    case PROTO_CMD_LOAD_BEGIN:
        if (n != 8) break;
        st = core_status();
        if (st & CORE_STATUS_BUSY) { send_error(seq, PROTO_ERR_STATE, "core busy"); return; }
        if (st & CORE_STATUS_PAUSED) {
            /* a run left paused: finish it on the model it started with, before any of that
             * model is overwritten (its result is dropped) */
            core_wr(CORE_REGION_REGS, CORE_REG_CTRL, CORE_CTRL_CONTINUE);
            if (!core_wait()) { send_error(seq, PROTO_ERR_TIMEOUT, "core did not finish"); return; }
        }
        if (CORE_EXTERNAL_WEIGHTS && !dram_ok) {   /* the weights would go to a broken DRAM */
            send_error(seq, PROTO_ERR_STATE, "the DRAM failed its test at boot: no model can load");
            return;
        }
        memset(&ld, 0, sizeof(ld));          /* the previous model is gone from here on */
        if (get_u32(p) < 12 + 4 * 8) {        /* not even a needs record */
            send_error(seq, PROTO_ERR_BAD_ARGS, msg_num("model image of ", get_u32(p),
                                                        " bytes: no needs record", 0, 0));
            return;
        }
        ld.state = MODEL_LOADING;
        ld.total = get_u32(p);
        ld.crc_expected = get_u32(p + 4);
        send_frame(type | PROTO_REPLY, seq, 0, 0);
        return;
    case PROTO_CMD_LOAD_CHUNK: {
        if (n < 4) break;
        if (ld.state != MODEL_LOADING) { send_error(seq, PROTO_ERR_STATE, "no load in progress"); return; }
        uint32_t off = get_u32(p);
        if (off + (n - 4) <= ld.received) {         /* a repeated chunk: already applied */
            put_u32(o, ld.received);
            send_frame(type | PROTO_REPLY, seq, o, 4);
            return;
        }
        if (off != ld.received || off + (n - 4) > ld.total) {
            send_error(seq, PROTO_ERR_BAD_ARGS, msg_num("chunk at offset ", off, ", expected ",
                                                        ld.received, ""));
            return;
        }
        ld.crc = crc_update(ld.crc, p + 4, n - 4);
        e = load_bytes(p + 4, n - 4, &code);
        if (e) { ld.state = MODEL_NONE; send_error(seq, code, e); return; }
        ld.received += n - 4;
        put_u32(o, ld.received);
        send_frame(type | PROTO_REPLY, seq, o, 4);
        return;
    }
    case PROTO_CMD_LOAD_END:
        if (n != 0) break;
        if (ld.state != MODEL_LOADING) { send_error(seq, PROTO_ERR_STATE, "no load in progress"); return; }
        if (ld.received != ld.total || ld.head_n != 0 || !ld.have_needs) {
            ld.state = MODEL_NONE;
            send_error(seq, PROTO_ERR_BAD_ARGS, msg_num("model image incomplete: ", ld.received,
                                                        " of ", ld.total, " bytes"));
            return;
        }
        if (ld.crc != ld.crc_expected) {
            ld.state = MODEL_NONE;
            send_error(seq, PROTO_ERR_BAD_CRC, "model image CRC-32 mismatch");
            return;
        }
        ld.state = MODEL_OK;
        put_u32(o, ld.layers);
        send_frame(type | PROTO_REPLY, seq, o, 4);
        return;
    case PROTO_CMD_IMAGE:
        if (ld.state != MODEL_OK) { send_error(seq, PROTO_ERR_NO_MODEL, "no model loaded"); return; }
        if (n != ld.image_bytes) {
            send_error(seq, PROTO_ERR_BAD_ARGS, msg_num("image of ", n, " bytes, the model expects ",
                                                        ld.image_bytes, ""));
            return;
        }
        if (core_status() & CORE_STATUS_BUSY) { send_error(seq, PROTO_ERR_STATE, "core busy"); return; }
        for (uint32_t i = 0; i < n; i++) core_wr(CORE_REGION_IMAGE, i, p[i]);
        send_frame(type | PROTO_REPLY, seq, 0, 0);
        return;
    case PROTO_CMD_RUN:
    case PROTO_CMD_CONTINUE:
        if (n != (type == PROTO_CMD_RUN ? 1u : 0u)) break;
        if (ld.state != MODEL_OK) { send_error(seq, PROTO_ERR_NO_MODEL, "no model loaded"); return; }
        st = core_status();
        if (type == PROTO_CMD_CONTINUE && !(st & CORE_STATUS_PAUSED)) {
            send_error(seq, PROTO_ERR_STATE, "core is not paused");
            return;
        }
        if (st & CORE_STATUS_BUSY) { send_error(seq, PROTO_ERR_STATE, "core busy"); return; }
        if (type == PROTO_CMD_RUN && (st & CORE_STATUS_PAUSED)) {
            /* a run left paused (its host gone): finish it first, its result is dropped */
            core_wr(CORE_REGION_REGS, CORE_REG_CTRL, CORE_CTRL_CONTINUE);
            if (!core_wait()) { send_error(seq, PROTO_ERR_TIMEOUT, "core did not finish"); return; }
        }
        if (type == PROTO_CMD_RUN)
            core_wr(CORE_REGION_REGS, CORE_REG_CTRL, CORE_CTRL_START | ((p[0] & 1) ? CORE_CTRL_STEP : 0));
        else
            core_wr(CORE_REGION_REGS, CORE_REG_CTRL, CORE_CTRL_CONTINUE | CORE_CTRL_STEP);
        if (!core_wait()) { send_error(seq, PROTO_ERR_TIMEOUT, "core did not finish"); return; }
        put_u32(o, core_status());
        send_frame(type | PROTO_REPLY, seq, o, 4);
        return;
    case PROTO_CMD_RESULT: {
        if (n != 2) break;
        if (ld.state != MODEL_OK) { send_error(seq, PROTO_ERR_NO_MODEL, "no model loaded"); return; }
        uint32_t classes = get_u16(p);
        st = core_status();
        if (!(st & CORE_STATUS_DONE) || (st & CORE_STATUS_BUSY)) {
            send_error(seq, PROTO_ERR_STATE, "no finished run");
            return;
        }
        uint32_t layers = ld.layers;
        if (classes == 0 || classes > core_pe * core_membrane_depth ||
            10 + 8 * classes + 16 * layers > PROTO_MAX_PAYLOAD) break;
        uint32_t best = 0, bhi = 0, blo = 0;
        o[1] = layers;
        uint8_t *q = o + 2;
        for (uint32_t c = 0; c < classes; c++) {
            uint32_t bank = c % core_pe, entry = c / core_pe;
            uint32_t a = ((bank << CORE_MEMBRANE_INDEX_BITS) | entry) << 1;
            uint32_t lo = core_rd(CORE_REGION_MEMBRANE, a), hi = core_rd(CORE_REGION_MEMBRANE, a + 1);
            put_u32(q, lo);
            put_u32(q + 4, hi);
            q += 8;
            /* argmax of signed 64-bit values, ties to the lowest class */
            if (c == 0 || (int32_t)hi > (int32_t)bhi || (hi == bhi && lo > blo)) {
                best = c; bhi = hi; blo = lo;
            }
        }
        o[0] = best;
        put_u32(q, core_rd(CORE_REGION_REGS, CORE_REG_CYCLES));
        q += 4;
        for (uint32_t i = 0; i < 4 * layers; i++, q += 4) put_u32(q, core_rd(CORE_REGION_COUNTERS, i));
        send_frame(type | PROTO_REPLY, seq, o, q - o);
        return;
    }
    case PROTO_CMD_READ_MAP:
    case PROTO_CMD_READ: {
        if (n != 7) break;
        uint32_t sel = p[0], off = get_u32(p + 1), cnt = get_u16(p + 5);
        uint32_t limit = 1u << CORE_REGION_SHIFT;
        if (cnt > PROTO_MAX_PAYLOAD / 4 || off > limit || cnt > limit - off) break;
        if (type == PROTO_CMD_READ_MAP && ld.state != MODEL_OK) {
            send_error(seq, PROTO_ERR_NO_MODEL, "no model loaded");
            return;
        }
        st = core_status();
        if (st & CORE_STATUS_BUSY) { send_error(seq, PROTO_ERR_STATE, "core busy"); return; }
        uint32_t region = sel;
        if (type == PROTO_CMD_READ_MAP) {
            /* paused after layer L: L's map; done: the last firing layer's map (the fc
             * layer does not overwrite it) */
            uint32_t cur = (st >> 8) & 0xff;
            int ok = ((st & CORE_STATUS_PAUSED) && sel == cur) ||
                     ((st & CORE_STATUS_DONE) && ld.layers >= 2 && sel == ld.layers - 2);
            if (!ok) {
                send_error(seq, PROTO_ERR_STATE, msg_num("spike map of layer ", sel,
                                                         " not available; core at layer ", cur, ""));
                return;
            }
            /* the map the entry wrote: its program's out_map flag (word 0, bit 4) */
            region = (core_rd(CORE_REGION_REGS, CORE_REG_PROGRAM + CORE_PROGRAM_WORDS * sel)
                      >> 4 & 1) ? CORE_REGION_MAP1 : CORE_REGION_MAP0;
        } else if (region > 7) break;
        for (uint32_t i = 0; i < cnt; i++) put_u32(o + 4 * i, core_rd(region, off + i));
        send_frame(type | PROTO_REPLY, seq, o, 4 * cnt);
        return;
    }
    default:
        send_error(seq, PROTO_ERR_UNKNOWN, msg_num("unknown command ", type, 0, 0, ""));
        return;
    }
    send_error(seq, PROTO_ERR_BAD_ARGS, msg_num("bad arguments for command ", type,
                                                ", payload of ", n, " bytes"));
}

int main(void) {
#ifdef CATSNN_SDRAM_INIT
    /* a real SDRAM needs its init sequence (mode registers; on DDR3 also leveling) and gets a
     * memory test; LiteX's log of it goes out on the UART before the first frame (hosts skip
     * bytes that are not frames). While it runs the controller is under software control:
     * DRAM writes from another bus master (Etherbone) would be lost, so a host must not write
     * the DRAM of a board with Ethernet before the firmware's hello frame. */
    dram_ok = sdram_init();
#endif
    timer_init();
    crc_init();
    core_info();
    memset(&ld, 0, sizeof(ld));
    /* say hello: an INFO reply with sequence 0 lets a host see the firmware is up */
    handle(PROTO_CMD_INFO, 0, 0);
    for (;;) {
        uint8_t type, seq;
        uint32_t crc;
        int n = recv_frame(&type, &seq, &crc);
        if (n < 0) continue;
        if (last.valid && crc == last.request_crc && seq == last.seq) {
            send_frame(last.type, last.seq, last.payload, last.n);   /* a resent request */
            continue;
        }
        last.valid = 0;
        handling = 1;
        handle(type, seq, n);
        handling = 0;
        last.valid = 1;
        last.request_crc = crc;
    }
    return 0;
}
