// Verilator harness of the log-TTFS core: a C ABI that Python drives through ctypes.
// The core is a Wishbone slave; every access here is one classic-cycle transaction
// (request, ack one cycle later, release), and run() clocks the core until it stops.
// With CATSNN_EXTERNAL the core also has a Wishbone master to external memory (weights staged
// from it): the harness answers its reads from an array after `latency` wait states.
#include <cstdint>
#include <vector>
#include "Vcatsnn_core.h"
#include "verilated.h"

struct Sim {
    VerilatedContext ctx;
    Vcatsnn_core* top;
    uint64_t cycles;
    std::vector<uint32_t> ext;    // external memory, 32-bit words
    uint32_t latency = 0, waited = 0;
};

static inline void serve_external(Sim* s) {
#ifdef CATSNN_EXTERNAL
    Vcatsnn_core* t = s->top;
    if (t->ext_ack) {             // an acknowledge lasts one cycle
        t->ext_ack = 0;
        return;
    }
    if (!(t->ext_cyc && t->ext_stb)) return;
    if (s->waited < s->latency) {
        s->waited++;
        return;
    }
    s->waited = 0;
    uint32_t a = t->ext_adr;
    t->ext_dat_r = a < s->ext.size() ? s->ext[a] : 0xDEADBEEF;
    t->ext_ack = 1;
#else
    (void)s;
#endif
}

static inline void tick(Sim* s) {
    s->top->sys_clk = 0;
    s->top->eval();
    s->top->sys_clk = 1;
    s->top->eval();
    s->cycles++;
    serve_external(s);
}

static uint32_t access(Sim* s, uint32_t adr, uint32_t dat, int we) {
    Vcatsnn_core* t = s->top;
    t->adr = adr;
    t->dat_w = dat;
    t->we = we;
    t->cyc = 1;
    t->stb = 1;
    int guard = 0;
    do {
        tick(s);
    } while (!t->ack && ++guard < 16);
    uint32_t r = t->dat_r;
    t->cyc = 0;
    t->stb = 0;
    t->we = 0;
    tick(s);  // ack drops
    return guard >= 16 ? 0xDEADBEEF : r;
}

extern "C" {

void* core_new(void) {
    Sim* s = new Sim();
    s->top = new Vcatsnn_core(&s->ctx);
    s->cycles = 0;
    s->top->sys_rst = 1;
    tick(s);
    tick(s);
    s->top->sys_rst = 0;
    tick(s);
    return s;
}

void core_free(void* h) {
    Sim* s = (Sim*)h;
    s->top->final();
    delete s->top;
    delete s;
}

void core_write(void* h, uint32_t adr, uint32_t dat) { access((Sim*)h, adr, dat, 1); }

uint32_t core_read(void* h, uint32_t adr) { return access((Sim*)h, adr, 0, 0); }

void core_write_block(void* h, uint32_t adr, uint32_t n, const uint32_t* dat) {
    for (uint32_t i = 0; i < n; i++) access((Sim*)h, adr + i, dat[i], 1);
}

void core_read_block(void* h, uint32_t adr, uint32_t n, uint32_t* out) {
    for (uint32_t i = 0; i < n; i++) out[i] = access((Sim*)h, adr + i, 0, 0);
}

// Clock until the core is neither busy nor about to start: returns the cycles clocked, or
// -1 if max_cycles passed first (a hung core never hangs the caller).
int64_t core_run(void* h, uint64_t max_cycles) {
    Sim* s = (Sim*)h;
    uint64_t n = 0;
    tick(s);  // the start pulse was taken by the last write
    n++;
    while (s->top->busy) {
        if (n >= max_cycles) return -1;
        tick(s);
        n++;
    }
    return (int64_t)n;
}

uint64_t core_cycles(void* h) { return ((Sim*)h)->cycles; }

void core_ext_write(void* h, uint32_t adr, uint32_t n, const uint32_t* dat) {
    Sim* s = (Sim*)h;
    if (s->ext.size() < (size_t)adr + n) s->ext.resize((size_t)adr + n, 0);
    for (uint32_t i = 0; i < n; i++) s->ext[adr + i] = dat[i];
}

void core_ext_latency(void* h, uint32_t cycles) { ((Sim*)h)->latency = cycles; }

}  // extern "C"
