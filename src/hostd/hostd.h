/*
 * hostd.h — the host daemon's internals (`xpv hostd`, docs/hostd.md): domains (process groups
 * and QEMU VMs), the round that refreshes, places, applies and publishes, the page mover, the
 * configuration and the control protocol.
 *
 * Every OS read goes through proc_root (a fixture directory in tests), every OS write through
 * the ops table; so the whole round runs in unit tests and in bench-hostd against the
 * recording ops on a fixture machine. Only hostd_launch() (fork/exec of a command domain),
 * the VM attach (QMP) and the control socket touch the system directly.
 *
 * Invariants: domain names are unique, [A-Za-z0-9_.-]{1,47}; a domain's `nodes` is the node
 * mask (positions in topo) its threads are bound to, 0 when unbound; `pinned` (manual moves
 * through the control socket) keeps the automatic placement away until released; the
 * record's generation only grows (the publisher continues from the file's record).
 */
#ifndef XPV_HOSTD_H
#define XPV_HOSTD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include "xpv/error.h"
#include "xpv/ops.h"
#include "xpv/placement.h"
#include "xpv/topo.h"

/* Domains one daemon follows: a dense host's VMs and containers. A round's cost grows with the
 * domains that changed, not with these (docs/hostd.md, "Cost"). A configuration holds as many
 * as it names (struct hostd_conf's array grows, about 1.6 KiB a domain), up to this bound. */
#define HOSTD_MAX_DOMAINS 4096
#define HOSTD_MAX_PIDS    64
#define HOSTD_MAX_ARGS    64
#define HOSTD_NAME_MAX    48
#define HOSTD_MAX_RANGES  64

enum hostd_kind { HOSTD_PIDS, HOSTD_CGROUP, HOSTD_COMMAND, HOSTD_VM };

/* A memory range of a domain's process, [start, end) in that process's address space. */
struct hostd_range {
    pid_t pid;
    uint64_t start, end;
    uint64_t nodes; /* where its pages go (positions); 0: over the domain's nodes */
};

/* Per-domain settings, from the config file or the command line. */
struct hostd_domain_conf {
    char name[HOSTD_NAME_MAX];
    enum hostd_kind kind;
    pid_t pids[HOSTD_MAX_PIDS]; /* HOSTD_PIDS */
    unsigned nr_pids;
    char cgroup[256];           /* HOSTD_CGROUP: directory holding cgroup.procs */
    char *argv[HOSTD_MAX_ARGS]; /* HOSTD_COMMAND: NULL-terminated, owned */
    char qmp[256];              /* HOSTD_VM: QMP socket */
    char record[256];           /* record file; "" = <record_dir>/xpv-domain-<name> */
    uint64_t fixed_nodes;       /* node positions the operator fixed in the config (0: auto) */
    bool backend;               /* HOSTD_VM found and driven by h->backend (libvirt), not QMP */
};

struct hostd_conf {
    double period_s;       /* between rounds (1) */
    bool migrate_memory;   /* move pages after a move (true) */
    double migrate_mb_s;   /* page-migration budget, MiB per second of period (256) */
    double migrate_max_ms; /* time a round may spend moving pages (100) */
    struct xpv_place_params place;
    char record_dir[256];  /* where process domains' records go (hostd_default_record_dir()) */
    char socket[256];      /* control socket ("" = hostd_default_socket()) */
    double qmp_timeout_ms; /* each QMP call to a VM's QEMU (200); a VM that times out is
                              skipped, and tried again later (docs/hostd.md) */
    /* where the operator's placements are kept across restarts, <state_dir>/xpv-hostd.state
     * (hostd_default_state_dir()); a private directory (docs/hostd.md, "Files") */
    char state_dir[256];
    /* the metrics endpoint's address, "IP:PORT" or "[IPv6]:PORT" ("": none, the default;
     * hostd_metrics.c, docs/hostd.md "Metrics") */
    char metrics_listen[64];
    /* a libvirt connection URI whose domains (those with the xpv metadata element) join the
     * configured ones, "" for none (docs/libvirt.md) */
    char libvirt[256];
    /* change detectors (docs/hostd.md, "Cost"): a process domain is read in full (threads,
     * numa_maps) only when /proc/PID/stat says its threads, its processes or its resident
     * memory changed (by more than rss_change, a share), and at least every rescan_rounds
     * rounds (staggered over the domains) whatever it says; 1: every round, as before */
    unsigned rescan_rounds; /* 10 */
    double rss_change;      /* 0.05 */
    /* the domains: hostd_conf_add_domain() grows the array, hostd_conf_release() frees it; a
     * running daemon copies each domain's settings (struct hostd_domain) and keeps none here */
    unsigned nr_domains, cap_domains;
    struct hostd_domain_conf *domains;
};

/* The page mover's progress through a domain's ranges: a pass walks them all; one that
 * left pages behind (the kernel gave up on them for now) while moving others is followed by
 * another. */
struct hostd_pass {
    uint64_t cursor;        /* page offset over the concatenated ranges */
    uint64_t moved, failed; /* in this pass so far */
};

struct hostd_stats {
    uint64_t rounds, moves, manual_moves, pages_moved, pages_failed, publishes;
    uint64_t errors;          /* calls that failed and were logged (the daemon went on) */
    uint64_t vanished;        /* threads or processes that exited mid-operation */
    uint64_t control_dropped; /* control clients dropped: too slow, too long, or evicted */
    uint64_t qmp_timeouts;    /* QMP calls to a VM's QEMU that got no answer in time */
};

struct hostd_domain {
    struct hostd_domain_conf conf;
    bool alive;
    pid_t pids[HOSTD_MAX_PIDS]; /* resolved this round (cgroup, command, VM: QEMU) */
    unsigned nr_pids;
    /* HOSTD_PIDS: each configured pid's start time when first seen (0: not yet), and the
     * pids dropped for good because another process now holds the number */
    uint64_t start[HOSTD_MAX_PIDS];
    uint64_t reused;
    unsigned threads;                  /* threads (vCPUs for a VM) seen this round */
    uint64_t mem[XPV_PLACE_MAX_NODES]; /* bytes per node position, from numa_maps */
    uint64_t nodes;                    /* bound to (positions), 0 = not bound */
    uint64_t pinned;                   /* manual placement, kept until released */
    uint64_t generation;               /* of its record, 0 = not published */
    struct hostd_pass pass;            /* page mover progress in the current move */
    bool moving;                       /* pages still to move toward `nodes` */
    char reason[256];                  /* the last decision about it */
    struct xpv_publisher *pub;
    void *vm; /* VM attachment (hostd_vm.c), NULL otherwise */
    /* vCPU placements read from the state file ({"QEMU cpu-index": node id}), applied when
     * the VM attaches; NULL: none pending */
    json_t *saved_vcpus;
    /* a QEMU that did not answer QMP in time: not asked again before qmp_retry_ns
     * (CLOCK_MONOTONIC), after qmp_stalls timeouts in a row (hostd_vm.c) */
    uint64_t qmp_retry_ns;
    unsigned qmp_stalls;
    uint64_t pages_moved; /* by the page mover, since the daemon started following it */
    /* the change detector (hostd.c, refresh): what /proc/PID/stat said of its processes at
     * the last full read (a hash of pid and start time, threads, resident pages), and that
     * round; sig_ok: every process had a readable stat with those fields */
    uint64_t sig_pids, sig_rss, full_round;
    unsigned sig_threads;
    bool sig_ok;
    bool changed; /* read in full this round: a candidate for placement */
    /* /proc/PID/stat held open per process (pid, fd + 1; 0: none), read again with one pread:
     * no path walk, and a held fd of a process that exited fails (ESRCH) even when its
     * number has gone to another; closed by hostd_domain_close_stats */
    pid_t stat_pid[HOSTD_MAX_PIDS];
    int stat_fd[HOSTD_MAX_PIDS];
    unsigned nr_stat;
    void *bd; /* the backend's per-domain state (conf.backend) */
};
_Static_assert(HOSTD_MAX_PIDS <= 64, "hostd_domain.reused is a 64-bit mask");

/* Logging: the library never prints. Each message goes to the sink as its level, the domain
 * it is about (NULL: the daemon itself) and one line of text without a newline; messages above
 * `verbosity` are dropped, and so is everything when fn is NULL (hostd_init's default: tests,
 * the fuzzer and the benchmark stay quiet). `xpv hostd` installs a stderr or a syslog sink. */
enum hostd_log_level { HOSTD_LOG_ERR, HOSTD_LOG_WARN, HOSTD_LOG_INFO, HOSTD_LOG_DEBUG };
struct hostd_log_sink {
    void (*fn)(void *arg, enum hostd_log_level lvl, const char *domain, const char *msg);
    void *arg;
};
/* "error", "warning", "info", "debug". */
const char *hostd_log_level_name(enum hostd_log_level lvl);

/*
 * A backend that finds VM domains and drives them through a management layer instead of QMP
 * (libvirt: hostd_libvirt.c, docs/libvirt.md). Its domains have conf.backend set; the round
 * calls sync first (add the domains that appeared, remove those that went: hostd_add_domain,
 * hostd_remove_domain), and hostd_vm.c asks it, not QEMU, for the rest.
 */
struct xpv_vm_desc;
struct hostd;
struct hostd_backend {
    void (*sync)(struct hostd *h);
    /* the VM as xpv/vmdesc.h describes it (vCPU threads, vNUMA, RAM, channel devices) */
    int (*describe)(struct hostd *h, struct hostd_domain *d, struct xpv_vm_desc *out,
                    struct xpv_error *err);
    /* once a round: < 0 gone (err says why), 0 running, 1 running with other vCPUs than
     * described (a hotplug made elsewhere: describe again) */
    int (*check)(struct hostd *h, struct hostd_domain *d, struct xpv_error *err);
    /* bind a thread of d's QEMU; vcpu: its vCPU id, -1 for the other threads; force: an
     * explicit order of the operator, which overrides a pinning made behind hostd's back */
    int (*set_affinity)(struct hostd *h, struct hostd_domain *d, pid_t tid, int vcpu,
                        const struct xpv_bitmap *cpus, bool force);
    /* hot-add one vCPU on guest node vnode; *id gets its vCPU id */
    int (*add_vcpu)(struct hostd *h, struct hostd_domain *d, int vnode, unsigned *id,
                    struct xpv_error *err);
    json_t *(*json)(const struct hostd *h, const struct hostd_domain *d); /* status */
    void (*fini)(struct hostd *h);
    void *ctx;
};

struct hostd {
    struct hostd_conf conf;
    struct hostd_backend *backend; /* NULL: none */
    struct xpv_topo *topo;         /* host machine (possibly a fixture) */
    const char *proc_root; /* "" for the live system, else a directory holding proc/ and sys/ */
    struct xpv_ops *ops;
    bool dry_run;
    enum hostd_log_level verbosity; /* HOSTD_LOG_INFO */
    struct hostd_log_sink log;      /* none: messages are dropped */
    struct hostd_stats stats;
    unsigned nr_domains;
    struct hostd_domain *domains; /* [conf.nr_domains] */
    uint64_t page_size;
    struct hostd_ops_state *opstate; /* reload, metrics (hostd_reload.c); NULL: none yet */
    unsigned stat_held, stat_budget; /* stat files held open (refresh), and at most */
};

/* Configuration (hostd_conf.c). Defaults, then a JSON file on top. hostd_conf_default() takes
 * a configuration that holds nothing (new, or released). */
void hostd_conf_default(struct hostd_conf *c);
/* Parse text (untrusted: a config file). -EINVAL with "NAME: what" in err. */
int hostd_conf_parse(const char *text, size_t len, const char *name, struct hostd_conf *c,
                     struct xpv_error *err);
int hostd_conf_load(const char *path, struct hostd_conf *c, struct xpv_error *err);
/* One more domain, zeroed, at the end of c->domains (*out): -ENOSPC past HOSTD_MAX_DOMAINS,
 * -ENOMEM, each with a message in err. Pointers to earlier domains do not survive it. */
int hostd_conf_add_domain(struct hostd_conf *c, struct hostd_domain_conf **out,
                          struct xpv_error *err);
/* Frees the domains (their command argv strings too); c holds no domain afterwards. */
void hostd_conf_release(struct hostd_conf *c);
bool hostd_conf_has(const struct hostd_conf *c, const char *name);
/* A domain name the record path and the control protocol accept. */
bool hostd_name_ok(const char *name);
/* Parse a node list "0,2-3" of OS ids into positions of t. */
int hostd_parse_nodes(const struct xpv_topo *t, const char *list, uint64_t *mask,
                      struct xpv_error *err);
/* The control socket's default path: $XPV_HOSTD_SOCKET, else /run/xpv/hostd.sock as root,
 * else $XDG_RUNTIME_DIR/xpv-hostd.sock; NULL when none applies (not root, neither variable
 * set): never a shared directory such as /tmp, where another user could answer first. */
const char *hostd_default_socket(void);
/* Defaults of record_dir and state_dir: /run/xpv and /var/lib/xpv as root
 * ($XPV_HOSTD_STATE_DIR overrides the latter), else $XDG_RUNTIME_DIR/xpv for both. */
const char *hostd_default_record_dir(void);
const char *hostd_default_state_dir(void);

/* /proc/PID/stat (hostd_procfs.c): the process's start time in clock ticks since boot (field
 * 22), which tells a process from a later one given the same pid. Untrusted text: -EINVAL
 * when malformed. hostd_proc_starttime reads it under root (-ESRCH: gone). */
int hostd_stat_starttime(const char *text, size_t len, uint64_t *ticks);
int hostd_proc_starttime(const char *root, pid_t pid, uint64_t *ticks);
/* What the change detector reads from /proc/PID/stat: num_threads (field 20), starttime (22)
 * and rss in pages (24); full when all three were there (else only starttime is known). */
struct hostd_pstat {
    uint64_t threads, starttime, rss;
    bool full;
};
int hostd_stat_parse(const char *text, size_t len, struct hostd_pstat *out);
int hostd_proc_stat(const char *root, pid_t pid, struct hostd_pstat *out);
/* The same through a held fd (*fd >= 0: read again with pread; -1: opened, and kept in *fd
 * when keep, else closed). A held fd that fails, or (in a fixture, root not "") whose file
 * was removed, is closed (*fd = -1) and the path is read instead. */
int hostd_proc_stat_fd(const char *root, pid_t pid, int *fd, bool keep, struct hostd_pstat *out);
/* Reads made through these readers since the process started, by kind; an observer, when
 * set, sees each path before it is read (tests: what a round read of which domain). */
struct hostd_proc_reads {
    uint64_t stat, task, numa_maps, maps, cgroup_procs, meminfo;
};
struct hostd_proc_reads hostd_proc_reads_get(void);
void hostd_proc_observe(void (*fn)(void *arg, const char *path), void *arg);
/* numa_maps (hostd_procfs.c): add each line's N<id>=<pages> × its page size to bytes[] by
 * node position (ids unknown to t are counted in *unknown). Untrusted text; -EINVAL on lines
 * that break the format (err: "line N: ..."). */
int hostd_numa_maps_parse(const char *text, size_t len, const struct xpv_topo *t, uint64_t *bytes,
                          uint64_t *unknown, struct xpv_error *err);

/* /proc readers under root (hostd_procfs.c). */
int hostd_proc_tids(const char *root, pid_t pid, pid_t *tids, unsigned cap);
int hostd_proc_mem(const char *root, pid_t pid, const struct xpv_topo *t, uint64_t *bytes);
int hostd_proc_ranges(const char *root, pid_t pid, struct hostd_range *out, unsigned cap);
int hostd_cgroup_pids(const char *root, const char *cgroup, pid_t *pids, unsigned cap);
int hostd_node_free(const char *root, const struct xpv_topo *t, uint64_t *free_bytes);

/* The daemon (hostd.c). */
/* log: where the daemon's messages go, from the state file's read here on (NULL: nowhere). */
int hostd_init(struct hostd *h, const struct hostd_conf *c, struct xpv_topo *topo,
               const char *proc_root, struct xpv_ops *ops, const struct hostd_log_sink *log,
               struct xpv_error *err);
void hostd_fini(struct hostd *h);
/* One round: refresh every domain, place, apply, publish. Returns the number of moves. */
int hostd_round(struct hostd *h);
/* Manual placement of a domain (nodes: positions; 0 releases it to the automatic policy). */
int hostd_move(struct hostd *h, const char *name, uint64_t nodes, struct xpv_error *err);
struct hostd_domain *hostd_find(struct hostd *h, const char *name);
/* Domains that come and go while the daemon runs (a backend's sync): add one (its name must be
 * new and valid; at most HOSTD_MAX_DOMAINS), or remove one (detached, publisher closed; the
 * pointers into h->domains move). Only between rounds' uses of h->domains. */
struct hostd_domain *hostd_add_domain(struct hostd *h, const struct hostd_domain_conf *c,
                                      struct xpv_error *err);
void hostd_remove_domain(struct hostd *h, struct hostd_domain *d);
/* Close the stat files held for d's processes (a domain removed or released). */
void hostd_domain_close_stats(struct hostd *h, struct hostd_domain *d);
/* Raise the soft limit of open files to the hard one (the daemon holds a stat file per
 * process it follows; it polls, never select()s); returns the soft limit now. */
unsigned long hostd_raise_nofile(void);
/* The daemon's loop (hostd_run.c): rounds every conf.period_s until SIGINT or SIGTERM (or
 * `rounds`), SIGHUP for a round now, the control socket at conf.socket, the VMs' frames,
 * launched commands started and reaped. Blocks SIGINT, SIGTERM, SIGHUP and SIGCHLD while it
 * runs (read from a signalfd) and restores the caller's signal mask. 0 after a clean stop;
 * a negative errno (err: "control socket: ...", a launch failure) when it could not run. */
struct hostd_run_opts {
    uint64_t rounds; /* stop after this many rounds, 0: never; 1 (--once): no control socket */
    /* SIGHUP: re-read the configuration and apply it (hostd_reload); NULL: a round now. The
     * callback owns the configurations; < 0 (err: why) when the new one is rejected, and then
     * the running one must be untouched. */
    int (*reload)(void *arg, struct hostd *h, struct xpv_error *err);
    void *reload_arg;
};
int hostd_run(struct hostd *h, const struct hostd_run_opts *o, struct xpv_error *err);
/* Launch the command domains (fork/exec with XPV_RECORD set to their record, no signal
 * blocked, SIGPIPE default). */
int hostd_launch(struct hostd *h, struct xpv_error *err);
void hostd_log(struct hostd *h, enum hostd_log_level lvl, const char *domain, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* Share of the domain's memory on its nodes, in [0, 1]; 1 when it has none. */
double hostd_locality(const struct hostd *h, const struct hostd_domain *d);
/* Open a publisher on the record file at path under the daemon's open discipline
 * (xpv/safe_open.h): its directory passes the directory rule (record_dir is created 0711
 * when missing), the file is created (O_EXCL, 0644) or is the daemon's own. foreign: the pid
 * of QEMU, for its ivshmem file: an existing file of any owner, never created nor grown,
 * that this process maps (/proc/PID/maps); 0 otherwise. */
int hostd_publisher_open(struct hostd *h, const char *path, pid_t foreign,
                         struct xpv_publisher **out, struct xpv_error *err);
/* A domain's record file: its "record" setting, else <record_dir>/xpv-domain-<name> (a VM's
 * ivshmem file, when it has one, takes precedence in hostd_vm.c). */
void hostd_record_path(const struct hostd *h, const struct hostd_domain *d, char *buf, size_t len);
/* "0,2-3" (OS ids) for a mask of positions. */
void hostd_format_nodes(const struct xpv_topo *t, uint64_t mask, char *buf, size_t len);

/* The page mover (hostd_mover.c): move up to budget bytes of the ranges toward nodes
 * (positions), pages spread round-robin over them, stopping at deadline_ns (CLOCK_MONOTONIC,
 * 0: none); resumes where *pass stopped. *done is set when no further pass is needed.
 * Returns pages moved. */
long hostd_move_pages(struct hostd *h, const struct hostd_range *r, unsigned nr, uint64_t nodes,
                      uint64_t budget, uint64_t deadline_ns, struct hostd_pass *pass, bool *done);
uint64_t hostd_now_ns(void);

/* The control protocol (hostd_control.c): one JSON object per line each way. */
/* Handle one request line; writes a one-line JSON reply (with '\n') into out. */
void hostd_control_handle(struct hostd *h, const char *line, size_t len, char **out);
/* The `xpv domains` / `xpv move` side: connect, check that the daemon is root or our own
 * user (SO_PEERCRED; anyone else is refused with -EPERM before a byte is sent), send one
 * request, get the reply object. */
int hostd_control_request(const char *socket_path, const char *request, char **reply,
                          struct xpv_error *err);
/* Listening socket, owner-only (0600). Its directory is created 0700 when missing; an
 * existing one must be owned by root or the daemon's user and writable by nobody else. */
int hostd_control_listen(const char *path, struct xpv_error *err);

/* The control socket's clients, served from the daemon's loop, never blocking it: each is
 * non-blocking with its own buffers; a client must send a whole request line
 * (HOSTD_CTL_REQ_MAX bytes at most) within HOSTD_CTL_DEADLINE_MS of connecting, and read
 * its reply within HOSTD_CTL_DEADLINE_MS of it being ready, or it is dropped; at most
 * HOSTD_CTL_MAX_CLIENTS at a time, HOSTD_CTL_PER_PEER of them from one process (more are
 * refused at once); when full, the oldest still sending its request is dropped for the
 * newcomer. Peers other than our user or root are refused (SO_PEERCRED). */
#define HOSTD_CTL_MAX_CLIENTS 16
#define HOSTD_CTL_PER_PEER    4
#define HOSTD_CTL_DEADLINE_MS 1000
#define HOSTD_CTL_REQ_MAX     4096
struct pollfd;
struct hostd_ctl;
struct hostd_ctl *hostd_ctl_new(int lfd); /* lfd stays the caller's; NULL: out of memory */
void hostd_ctl_free(struct hostd_ctl *c); /* closes the clients, not lfd */
/* Fill p[0 .. 1 + HOSTD_CTL_MAX_CLIENTS) (the listening socket, then the clients; unused
 * slots get fd -1) and return the poll timeout until the next client deadline (-1: none). */
int hostd_ctl_pollfds(const struct hostd_ctl *c, struct pollfd *p);
/* Serve what poll() reported in p (as filled by hostd_ctl_pollfds) and drop the clients
 * whose deadline passed. */
void hostd_ctl_serve(struct hostd *h, struct hostd_ctl *c, const struct pollfd *p);

/*
 * VM domains (hostd_vm.c): attach through QMP and describe the VM (xpv/vmdesc.h). refresh
 * checks QEMU is alive and gives its threads (vCPUs first) and, when ranges is not NULL, its
 * guest RAM ranges, each headed for the node its vNode is placed on. A VM on k nodes has its
 * vNode v on the (v mod k)-th of them (xpv_place_vnode, xpv/placement.h): vCPUs are bound to
 * that node's CPUs (thread_cpus), the vNode's memory moves there, and its record (published
 * by hostd_vm_placed into the ivshmem file, and sent as a RECORD frame on the virtio-serial
 * socket) says so.
 */
int hostd_vm_attach(struct hostd *h, struct hostd_domain *d, struct xpv_error *err);
int hostd_vm_refresh(struct hostd *h, struct hostd_domain *d, pid_t *tids, unsigned cap,
                     struct hostd_range *ranges, unsigned *nr_ranges, struct xpv_error *err);
/* Bind a thread of d's QEMU: through the backend for its domains, else h->ops. */
int hostd_vm_set_affinity(struct hostd *h, struct hostd_domain *d, pid_t tid,
                          const struct xpv_bitmap *cpus, bool force);
void hostd_vm_thread_cpus(const struct hostd *h, const struct hostd_domain *d, pid_t tid,
                          uint64_t nodes, struct xpv_bitmap *cpus);
int hostd_vm_placed(struct hostd *h, struct hostd_domain *d);
/* The VM's record from the daemon's state (what hostd_vm_placed publishes): host topology t,
 * the node set the VM is bound to (positions; 0: unbound, then only vCPUs placed on their own
 * have a node and no vNode's memory is placed), its description, and the operator's vCPU
 * placements (vcpu_pin[c]: position + 1; 0: with its vNode). Fills desc through
 * xpv_record_desc_from_vm (release it with xpv_record_desc_free). */
struct xpv_vm_desc;
struct xpv_record_desc;
int hostd_vm_record(const struct xpv_topo *t, uint64_t bound, const struct xpv_vm_desc *vd,
                    const unsigned short *vcpu_pin, struct xpv_record_desc *desc,
                    struct xpv_error *err);
void hostd_vm_detach(struct hostd_domain *d);
/* The virtio-serial socket to poll for the guest agent's frames (-1: none, or the guest used
 * up this round's budget), and reading them: an ACK of the generation last published gives
 * a publish -> acknowledged latency sample; other frames and ACKs of generations never
 * published are counted, nothing else. The guest is untrusted and its work bounded: frames
 * of at most HOSTD_GUEST_MAX_PAYLOAD bytes (a longer header is garbage, so resynchronising
 * costs O(that) per byte), at most HOSTD_GUEST_WAKE_BYTES read per call (then back to the
 * loop: other VMs, the rounds, the control socket), HOSTD_GUEST_ROUND_BYTES per round
 * (then its socket is not polled until hostd_vm_new_round). */
#define HOSTD_GUEST_MAX_PAYLOAD 64
#define HOSTD_GUEST_WAKE_BYTES  (16u << 10)
#define HOSTD_GUEST_ROUND_BYTES (256u << 10)
int hostd_vm_fd(const struct hostd_domain *d);
void hostd_vm_read(struct hostd *h, struct hostd_domain *d);
void hostd_vm_new_round(struct hostd_domain *d);
/* Place one vCPU on node position pos (its memory stays: the guest's effective topology
 * changes), or back with its vNode (pos -1); republishes. */
int hostd_vm_pin_vcpu(struct hostd *h, struct hostd_domain *d, unsigned vcpu, int pos,
                      struct xpv_error *err);
/* Hot-add a vCPU on guest node vnode (QMP device_add in a free slot), describe the VM again,
 * place and publish; *index gets the new vCPU's index. */
int hostd_vm_add_vcpu(struct hostd *h, struct hostd_domain *d, int vnode, unsigned *index,
                      struct xpv_error *err);
/* Ask QEMU to unplug vCPU vcpu (device_del; the guest ejects it). Completes later: the rounds
 * notice the vCPU gone, describe the VM again and republish. -EBUSY while one is pending. */
int hostd_vm_del_vcpu(struct hostd *h, struct hostd_domain *d, unsigned vcpu,
                      struct xpv_error *err);
/* The operator's vCPU placements for the state file, {"QEMU cpu-index": node id} (new
 * reference), NULL when there is none: the attached VM's, else those read at start and not
 * applied yet. */
json_t *hostd_vm_pins_json(const struct hostd *h, const struct hostd_domain *d);
/* Write the operator's placements (domains and vCPUs) to the state file. */
void hostd_save_state(struct hostd *h);
/* The VM part of `xpv domains --json`: vCPUs (thread, vNode, node), kicks and ACKs. */
json_t *hostd_vm_json(const struct hostd *h, const struct hostd_domain *d);

/*
 * The operator's daemon (issue 20; docs/hostd.md "Reload", "systemd", "Metrics").
 *
 * hostd_reload (hostd_reload.c): apply a new configuration to the running daemon. Domains are
 * matched by name: new ones are followed from the next round, removed ones released (a VM
 * detached, a process domain's record file removed, a launched command stopped with SIGTERM
 * to its group), changed ones released and followed again; a domain whose only change is its
 * "nodes" keeps its state and gets the new fixed placement. The settings are replaced, but for
 * record_dir, state_dir, socket and metrics_listen, which keep their running values (a
 * restart changes them; logged). Everything is checked before anything changes: on an error
 * (err: why) the daemon is as it was. On success the domains refer to nc's strings (command
 * argv): the caller keeps nc and may release the previous configuration.
 */
int hostd_reload(struct hostd *h, const struct hostd_conf *nc, struct xpv_error *err);
/* Whether two domain settings describe the same thing (all but the fixed nodes). */
bool hostd_domain_conf_same(const struct hostd_domain_conf *a, const struct hostd_domain_conf *b);

/* Histograms for the metrics: seconds, HOSTD_HIST_BUCKETS upper bounds (hostd_hist_le), each
 * bucket counted on its own (the text output makes them cumulative). */
#define HOSTD_HIST_BUCKETS 16
extern const double hostd_hist_le[HOSTD_HIST_BUCKETS];
struct hostd_hist {
    uint64_t count;
    double sum;
    uint64_t bucket[HOSTD_HIST_BUCKETS];
};
void hostd_hist_add(struct hostd_hist *hh, double seconds);

/* What the daemon keeps for its operators: round timings and decisions, reloads (one per
 * daemon, allocated by hostd_ops_state_get on first use, freed by hostd_fini). */
struct hostd_ops_state {
    struct hostd_hist round_seconds;
    uint64_t last_round_decisions;
    uint64_t reloads, reloads_rejected;
    uint64_t metrics_requests, metrics_dropped;
};
struct hostd_ops_state *hostd_ops_state_get(struct hostd *h); /* NULL: out of memory */
/* hostd_round, timed and counted for the metrics. */
int hostd_round_timed(struct hostd *h);
/* The publish -> ACK latencies of a VM domain (NULL: not a VM, or not attached). */
const struct hostd_hist *hostd_vm_ack_hist(const struct hostd_domain *d);

/* systemd's notification protocol (hostd_systemd.c, sd_notify(3)), by hand: one datagram to
 * $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace); nothing when it is unset.
 * hostd_watchdog_ns: half of $WATCHDOG_USEC (when $WATCHDOG_PID is unset or ours), the
 * interval at which the loop sends WATCHDOG=1; 0: no watchdog. */
int hostd_sd_notify(const char *msg);
uint64_t hostd_watchdog_ns(void);

/* The metrics (hostd_metrics.c): the Prometheus text exposition format (version 0.0.4) of the
 * daemon's state; a NUL-terminated malloc'd text, NULL when out of memory. */
char *hostd_metrics_text(struct hostd *h);
/* An HTTP/1.x request head in buf[0..len) (untrusted bytes, fuzzed): 0 while incomplete
 * (no blank line yet); an HTTP status when complete: 200 for "GET /metrics", 404 another
 * path, 405 another method, 400 malformed; 431 when len reaches HOSTD_MET_REQ_MAX without an
 * end. */
#define HOSTD_MET_REQ_MAX 4096
int hostd_http_parse(const char *buf, size_t len);
/* "IP:PORT" / "[IPv6]:PORT" (numeric only: no name lookups in the daemon). */
struct sockaddr_storage;
int hostd_metrics_addr(const char *text, struct sockaddr_storage *sa, unsigned *salen,
                       struct xpv_error *err);
/* The endpoint, served from the loop like the control socket: non-blocking, at most
 * HOSTD_MET_MAX_CLIENTS at a time, each with HOSTD_MET_DEADLINE_MS to send its request head
 * and as long again to read the answer; a full table drops its oldest client. */
#define HOSTD_MET_MAX_CLIENTS 8
#define HOSTD_MET_DEADLINE_MS 1000
struct hostd_met;
struct hostd_met *hostd_met_new(const char *addr, struct xpv_error *err);
void hostd_met_free(struct hostd_met *m);
int hostd_met_pollfds(const struct hostd_met *m, struct pollfd *p); /* 1 + MAX_CLIENTS slots */
void hostd_met_serve(struct hostd *h, struct hostd_met *m, const struct pollfd *p);

#endif
