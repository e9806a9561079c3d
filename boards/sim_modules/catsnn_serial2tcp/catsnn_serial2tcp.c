/* LiteX's serial2tcp sim module (BSD-2-Clause, litex/build/sim/core/modules/serial2tcp)
 * with catsnn's changes:
 * - a bounded read into the ring buffer, and a clean disconnect (read_handler);
 * - it listens on the address given as "bind" (catsnn: 127.0.0.1 unless asked otherwise);
 * - one client at a time: a second connection gets one line saying so and is closed, while
 *   the first stays served; a client that has gone is noticed at the next connection;
 * - a new client's bytes reach the UART only after HOLD_TICKS clock cycles, longer than the
 *   firmware's inter-byte timeout, so a frame the previous client left half-sent is dropped by
 *   the firmware before the new client's first frame begins. */
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "error.h"
#include <unistd.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <event2/event.h>

#include <json-c/json.h>
#include "modules.h"

struct session_s {
  char *tx;
  char *tx_valid;
  char *tx_ready;
  char *rx;
  char *rx_valid;
  char *rx_ready;
  char *sys_clk;
  struct event *ev;
  char databuf[2048];
  int data_start;
  int datalen;
  int fd;
  uint64_t hold;       /* clock cycles before a new client's bytes go to the UART */
};

#define HOLD_TICKS 300000    /* > the firmware's FRAME_TIMEOUT_MS at the 1 MHz sim clock */
static const char busy_msg[] =
    "catsnn sim: busy: another client is connected (one client at a time)\n";

struct event_base *base;

int litex_sim_module_get_args( char *args, char *arg, char **val)
{
  int ret = RC_OK;
  json_object *jsobj = NULL;
  json_object *obj = NULL;
  char *value = NULL;
  int r;

  if(!arg) {
    fprintf(stderr, "litex_sim_module_get_args(): `arg` (requested .json key) is NULL!\n");
    ret=RC_JSERROR;
    goto out;
  }

  if(!args) {
    fprintf(stderr, "missing key in .json file: %s\n", arg);
    ret=RC_JSERROR;
    goto out;
  }

  jsobj = json_tokener_parse(args);
  if(NULL==jsobj) {
    fprintf(stderr, "Error parsing json arg: %s \n", args);
    ret=RC_JSERROR;
    goto out;
  }
  if(!json_object_is_type(jsobj, json_type_object)) {
    fprintf(stderr, "Arg must be type object! : %s \n", args);
    ret=RC_JSERROR;
    goto out;
  }
  obj=NULL;
  r = json_object_object_get_ex(jsobj, arg, &obj);
  if(!r) {
    fprintf(stderr, "Could not find object: \"%s\" (%s)\n", arg, args);
    ret=RC_JSERROR;
    goto out;
  }
  value=strdup(json_object_get_string(obj));

out:
  *val = value;
  return ret;
}

static int litex_sim_module_pads_get( struct pad_s *pads, char *name, void **signal)
{
  int ret = RC_OK;
  void *sig = NULL;
  int i;

  if(!pads || !name || !signal) {
    ret = RC_INVARG;
    goto out;
  }

  i = 0;
  while(pads[i].name) {
    if(!strcmp(pads[i].name, name)) {
      sig = (void*)pads[i].signal;
      break;
    }
    i++;
  }

out:
  *signal = sig;
  return ret;
}

static int serial2tcp_start(void *b)
{
  base = (struct event_base *)b;
  printf("[serial2tcp] loaded (%p)\n", base);
  return RC_OK;
}

void read_handler(int fd, short event, void *arg)
{
  struct session_s *s = (struct session_s*)arg;
  char buffer[1024];
  ssize_t read_len;
  int i, ret;

  /* catsnn fix: read no more than the ring buffer can hold (LiteX's serial2tcp reads 1024
   * bytes whatever the fill level and overwrites unread data when a host sends faster than
   * the simulated UART drains). Unread bytes stay in the socket: the event fires again. */
  size_t room = 2048 - s->datalen;
  if (room == 0)
    return;
  read_len = read(fd, buffer, room < 1024 ? room : 1024);
  if (read_len <= 0) {
    if (read_len < 0 && (errno == EAGAIN || errno == EINTR))
      return;
    // EOF or error: the client is gone. catsnn fix: also close the socket and forget it, so
    // that transmit does not write to a dead descriptor and the next client starts clean.
    ret = event_del(s->ev);
    if (ret != 0) {
      eprintf("read_handler(): Error removing event %d!\n", event);
      return;
    }
    event_free(s->ev);
    s->ev = NULL;
    close(fd);
    if (s->fd == fd)
      s->fd = 0;
    s->datalen = 0;    /* what the client sent and the UART has not taken goes with it */
    return;
  }
  for(i = 0; i < read_len; i++)
  {
    s->databuf[(s->data_start +  s->datalen ) % 2048] = buffer[i];
    s->datalen++;
  }
}

static void event_handler(int fd, short event, void *arg)
{
  if (event & EV_READ)
    read_handler(fd, event, arg);
}

static void drop_client(struct session_s *s)
{
  if (s->ev) {
    event_del(s->ev);
    event_free(s->ev);
    s->ev = NULL;
  }
  if (s->fd)
    close(s->fd);
  s->fd = 0;
  s->datalen = 0;
}

static void accept_conn_cb(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *address, int socklen,  void *ctx)
{
  struct session_s *s = (struct session_s*)ctx;
  struct timeval tv = {1, 0};

  if (s->fd) {
    /* is the current client still there? (its end-of-file may not be handled yet) */
    char c;
    ssize_t r = recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      drop_client(s);
    } else {
      if (send(fd, busy_msg, sizeof(busy_msg) - 1, MSG_NOSIGNAL) < 0) {
        /* the refused client may be gone already: nothing to do */
      }
      close(fd);
      return;
    }
  }
  s->fd = fd;
  s->hold = HOLD_TICKS;
  s->ev = event_new(base, fd, EV_READ | EV_PERSIST , event_handler, s);
  event_add(s->ev, &tv);
}

static void
accept_error_cb(struct evconnlistener *listener, void *ctx)
{
  struct event_base *base = evconnlistener_get_base(listener);
  eprintf("ERROR\n");

  event_base_loopexit(base, NULL);
}

static int serial2tcp_new(void **sess, char *args)
{
  int ret = RC_OK;
  struct session_s *s = NULL;
  char *cport = NULL;
  char *cbind = NULL;
  int port;
  struct evconnlistener *listener;
  struct sockaddr_in sin;

  if(!sess) {
    ret = RC_INVARG;
    goto out;
  }
  ret = litex_sim_module_get_args(args, "port", &cport);
  if(RC_OK != ret)
    goto out;

  printf("Found port %s\n", cport);
  sscanf(cport, "%d", &port);
  free(cport);
  ret = litex_sim_module_get_args(args, "bind", &cbind);
  if(RC_OK != ret)
    goto out;
  if(!port) {
    ret = RC_ERROR;
    fprintf(stderr, "Invalid port selected!\n");
    goto out;
  }

  s=(struct session_s*)malloc(sizeof(struct session_s));
  if(!s) {
    ret = RC_NOENMEM;
    goto out;
  }
  memset(s, 0, sizeof(struct session_s));

  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  if (inet_pton(AF_INET, cbind, &sin.sin_addr) != 1) {
    ret = RC_ERROR;
    fprintf(stderr, "Invalid bind address %s\n", cbind);
    free(cbind);
    goto out;
  }
  free(cbind);
  sin.sin_port = htons(port);
  listener = evconnlistener_new_bind(base, accept_conn_cb, s,  LEV_OPT_CLOSE_ON_FREE|LEV_OPT_REUSEABLE, -1, (struct sockaddr*)&sin, sizeof(sin));
  if (!listener) {
    ret=RC_ERROR;
    eprintf("Can't bind port %d\n!\n", port);
    goto out;
  }
  evconnlistener_set_error_cb(listener, accept_error_cb);

out:
  *sess=(void*)s;
  return ret;
}

static int serial2tcp_add_pads(void *sess, struct pad_list_s *plist)
{
  int ret = RC_OK;
  struct session_s *s=(struct session_s*)sess;
  struct pad_s *pads;
  if(!sess || !plist) {
    ret = RC_INVARG;
    goto out;
  }
  pads = plist->pads;
  if(!strcmp(plist->name, "serial")) {
    litex_sim_module_pads_get(pads, "sink_data", (void**)&s->rx);
    litex_sim_module_pads_get(pads, "sink_valid", (void**)&s->rx_valid);
    litex_sim_module_pads_get(pads, "sink_ready", (void**)&s->rx_ready);
    litex_sim_module_pads_get(pads, "source_data", (void**)&s->tx);
    litex_sim_module_pads_get(pads, "source_valid", (void**)&s->tx_valid);
    litex_sim_module_pads_get(pads, "source_ready", (void**)&s->tx_ready);
  }

  if(!strcmp(plist->name, "sys_clk"))
    litex_sim_module_pads_get(pads, "sys_clk", (void**)&s->sys_clk);

out:
  return ret;

}
static int serial2tcp_tick(void *sess, uint64_t time_ps)
{
  static clk_edge_state_t edge;
  char c;
  int ret = RC_OK;

  struct session_s *s = (struct session_s*)sess;
  if(!clk_pos_edge(&edge, *s->sys_clk)) {
    return RC_OK;
  }

  *s->tx_ready = 1;
  if(s->fd && *s->tx_valid) {
    c = *s->tx;
    /* catsnn: no SIGPIPE when the client has just gone; the byte is dropped */
    if(-1 == send(s->fd, &c, 1, MSG_NOSIGNAL)) {
      eprintf("Error writing on socket\n");
    }
  }

  *s->rx_valid=0;
  if (s->hold) {
    s->hold--;
    return ret;
  }
  if(s->datalen) {
    c = s->databuf[s->data_start];
    *s->rx = c;
    *s->rx_valid=1;
    if (*s->rx_ready) {
      s->data_start = (s->data_start + 1) % 2048;
      s->datalen--;
    }
  }

  return ret;
}

static struct ext_module_s ext_mod = {
  "catsnn_serial2tcp",
  serial2tcp_start,
  serial2tcp_new,
  serial2tcp_add_pads,
  NULL,
  serial2tcp_tick
};

int litex_sim_ext_module_init(int (*register_module)(struct ext_module_s *))
{
  int ret = RC_OK;
  ret = register_module(&ext_mod);
  return ret;
}
