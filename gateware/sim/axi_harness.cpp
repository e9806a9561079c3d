// Verilator harness of the core behind its AXI-Lite slave (gateware/axi_core.py): a C ABI that
// Python drives through ctypes, one AXI-Lite transaction per call, as a Zynq's PS would issue
// it over M_AXI_GP0. Every wait is bounded: a transaction that does not complete returns an
// error value instead of hanging.
#include <cstdint>
#include "Vcatsnn_axi.h"
#include "verilated.h"

struct Sim {
    VerilatedContext ctx;
    Vcatsnn_axi* top;
    uint64_t cycles;
};

static const int GUARD = 64;   // cycles a handshake may take

static inline void settle(Sim* s) { s->top->s_axi_aclk = 0; s->top->eval(); }
static inline void edge(Sim* s) { s->top->s_axi_aclk = 1; s->top->eval(); s->cycles++; }

extern "C" {

void* axi_new(void) {
    Sim* s = new Sim();
    s->top = new Vcatsnn_axi(&s->ctx);
    s->cycles = 0;
    Vcatsnn_axi* t = s->top;
    t->s_axi_aresetn = 0;
    for (int i = 0; i < 4; i++) { settle(s); edge(s); }
    t->s_axi_aresetn = 1;
    settle(s); edge(s);
    return s;
}

void axi_free(void* h) {
    Sim* s = (Sim*)h;
    s->top->final();
    delete s->top;
    delete s;
}

// one write; 0 on success, -1 if a handshake did not complete
int axi_write(void* h, uint32_t addr, uint32_t data) {
    Sim* s = (Sim*)h;
    Vcatsnn_axi* t = s->top;
    t->s_axi_awaddr = addr; t->s_axi_awprot = 0; t->s_axi_awvalid = 1;
    t->s_axi_wdata = data; t->s_axi_wstrb = 0xF; t->s_axi_wvalid = 1;
    t->s_axi_bready = 1;
    int n = 0;
    while ((t->s_axi_awvalid || t->s_axi_wvalid) && n++ < GUARD) {
        settle(s);
        bool aw = t->s_axi_awvalid && t->s_axi_awready, w = t->s_axi_wvalid && t->s_axi_wready;
        edge(s);
        if (aw) t->s_axi_awvalid = 0;
        if (w) t->s_axi_wvalid = 0;
    }
    bool done = false;
    while (!done && n++ < GUARD) {
        settle(s);
        done = t->s_axi_bvalid;
        edge(s);
    }
    t->s_axi_awvalid = 0; t->s_axi_wvalid = 0; t->s_axi_bready = 0;
    settle(s);
    return done ? 0 : -1;
}

// one read; the data, or 0xDEADBEEF with *ok = 0 if a handshake did not complete
uint32_t axi_read(void* h, uint32_t addr, int* ok) {
    Sim* s = (Sim*)h;
    Vcatsnn_axi* t = s->top;
    t->s_axi_araddr = addr; t->s_axi_arprot = 0; t->s_axi_arvalid = 1;
    t->s_axi_rready = 1;
    int n = 0;
    while (t->s_axi_arvalid && n++ < GUARD) {
        settle(s);
        bool ar = t->s_axi_arready;
        edge(s);
        if (ar) t->s_axi_arvalid = 0;
    }
    uint32_t data = 0xDEADBEEF;
    bool done = false;
    while (!done && n++ < GUARD) {
        settle(s);
        if (t->s_axi_rvalid) { done = true; data = t->s_axi_rdata; }
        edge(s);
    }
    t->s_axi_arvalid = 0; t->s_axi_rready = 0;
    settle(s);
    *ok = done;
    return data;
}

// idle clock cycles (the core runs while the PS does not access it)
void axi_idle(void* h, uint64_t n) {
    Sim* s = (Sim*)h;
    for (uint64_t i = 0; i < n; i++) { settle(s); edge(s); }
}

uint64_t axi_cycles(void* h) { return ((Sim*)h)->cycles; }

}  // extern "C"
