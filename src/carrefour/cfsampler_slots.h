/*
 * cfsampler_slots.h — the software sampler's window of protected pages (cfsampler.c;
 * docs/carrefour.md, "The software sampler"): the slot protocol between the threads that touch a
 * window, with the system call and the points between two steps behind a table of hooks, so that
 * tests/unit/test_cf_slots.c can run the very same code under a scheduler of its own and go
 * through every interleaving of its steps.
 *
 * Who does what:
 *  - the sampler thread opens a window (cfs_arm for each page it picks) and closes it
 *    (cfs_close) one period later;
 *  - the SIGSEGV handler, on any thread that faulted on a protected page, takes the page's
 *    slot and gives the page its protection back (cfs_fault), possibly late: a window may
 *    have closed and another opened between the fault and the handler's look;
 *  - the pthread_create wrapper, on any thread, empties the window and keeps it empty while
 *    glibc makes the thread with every signal blocked (cfs_create_begin / cfs_create_end);
 *  - a forked child, single-threaded, gives back whatever it inherited (cfs_after_fork).
 *
 * A slot's state: FREE -> ARMING (the sampler is protecting its page) -> PROTECTED ->
 * FAULTED (a handler restores it) or RESTORING (the sampler or a drain does) -> FREE once
 * the protection is back. The invariant the test checks after every step: no page is
 * protected unless a slot holding it is past FREE (ARMING, PROTECTED, FAULTED or RESTORING:
 * that slot's owner gives it back), and every slot is FREE again once everyone is done.
 *
 * Everything here is static inline, and production passes a table of constants
 * (cfsampler.c: step NULL, the real mprotect): the compiler folds the hooks away, so the
 * handler and the sampler run what they ran before this file existed.
 */
#ifndef XPV_CFSAMPLER_SLOTS_H
#define XPV_CFSAMPLER_SLOTS_H

#include <stdint.h>

#define CFS_MAX_WINDOW 1024

/* A slot's state, in the low bits of its word beside the page (page | state): the handler's
 * compare-and-swap then checks both at once. A slot looked at while the sampler moved it to
 * another page in the next window (the handler late again) no longer matches: with page and
 * state apart, such a handler took the new page's slot and gave back its own page, leaving
 * the new one protected with no slot (found by tests/unit/test_cf_slots.c). A FREE slot keeps
 * its page (the window's opener skips pages it already used). */
enum cfs_state { CFS_FREE, CFS_ARMING, CFS_PROTECTED, CFS_FAULTED, CFS_RESTORING };
#define CFS_STATE_MASK ((uintptr_t)7)

struct cfs_slot {
    uintptr_t word; /* page | state */
    int prot;       /* the page's protection, set while the slot is FREE */
};

struct cfs_window {
    struct cfs_slot slots[CFS_MAX_WINDOW];
    unsigned nr;            /* slots [0, nr) are looked at (it only grows) */
    int creating;           /* pthread_create calls in progress */
    unsigned long released; /* pages given back so far, by anyone */
};

/* What a thread's handler remembers between two faults (thread-local in production). */
struct cfs_thread {
    uintptr_t last_page;         /* the last fault's page, when no slot held it */
    unsigned long last_released; /* w->released then */
};

struct cfs_ops {
    /* mprotect(page, one page, PROT_NONE): 0, or -1 (the page is gone) */
    int (*protect)(uintptr_t page);
    /* give page its protection prot back (a failure is the callee's to remember) */
    void (*restore)(uintptr_t page, int prot);
    /* another thread must move first (a slot is busy): sched_yield in production */
    void (*wait)(void);
    /* called before each step that reads or writes what other threads share (once each):
     * var, what it touches (an address, or a page for its protection), write whether it
     * may change it. NULL in production; the test's scheduler takes over there, and tells
     * steps that commute by what they touch */
    void (*step)(const void *var, int write);
};

#define CFS_STEP(o, var, write)                                                                    \
    do {                                                                                           \
        if ((o)->step)                                                                             \
            (o)->step((const void *)(var), (write));                                               \
    } while (0)

static inline uintptr_t cfs_page_of(uintptr_t word)
{
    return word & ~CFS_STATE_MASK;
}

static inline int cfs_state_of(uintptr_t word)
{
    return (int)(word & CFS_STATE_MASK);
}

/* Give a slot's page back and free the slot: the count first, so a handler that sees the
 * slot FREE sees the count moved (cfs_fault). */
static inline void cfs_release(struct cfs_window *w, struct cfs_slot *s, uintptr_t page,
                               const struct cfs_ops *o)
{
    CFS_STEP(o, page, 1);
    o->restore(page, __atomic_load_n(&s->prot, __ATOMIC_RELAXED));
    CFS_STEP(o, &w->released, 1);
    __atomic_fetch_add(&w->released, 1, __ATOMIC_SEQ_CST);
    CFS_STEP(o, &s->word, 1);
    __atomic_store_n(&s->word, page | CFS_FREE, __ATOMIC_SEQ_CST);
}

enum cfs_fault_result {
    CFS_TAKEN,    /* the handler took the page's slot and gave the page back: sample it */
    CFS_BUSY,     /* a slot holds the page, someone else is at it: the access retries */
    CFS_RETRY,    /* no slot holds it now, but one may have when it faulted: retry */
    CFS_NOT_OURS, /* no slot held it at this fault: the program's own, to pass on */
};

/* The handler's part, for an access error on page; t is the faulting thread's memory.
 *
 * No slot holding the page proves nothing at once: the window may have closed between the
 * fault and the look, the handler late. Passed on is a second fault on the same page when
 * no page was given back in between (w->released unchanged): had a slot held the page at
 * that fault, it was given back before this look, and counted. (A handler late twice in a
 * row, two windows apart, was passed on as the program's own before: found by the test.) */
static inline enum cfs_fault_result cfs_fault(struct cfs_window *w, uintptr_t page,
                                              struct cfs_thread *t, const struct cfs_ops *o)
{
    CFS_STEP(o, &w->nr, 0);
    unsigned n = __atomic_load_n(&w->nr, __ATOMIC_SEQ_CST);
    for (unsigned i = 0; i < n; i++) {
        struct cfs_slot *s = &w->slots[i];
        CFS_STEP(o, &s->word, 0);
        uintptr_t cur = __atomic_load_n(&s->word, __ATOMIC_SEQ_CST);
        if (cfs_page_of(cur) != page || cfs_state_of(cur) == CFS_FREE)
            continue;
        if (cfs_state_of(cur) == CFS_PROTECTED) {
            CFS_STEP(o, &s->word, 1);
            if (__atomic_compare_exchange_n(&s->word, &cur, page | CFS_FAULTED, 0, __ATOMIC_SEQ_CST,
                                            __ATOMIC_SEQ_CST)) {
                cfs_release(w, s, page, o);
                t->last_page = 0;
                return CFS_TAKEN;
            }
            if (cfs_page_of(cur) != page || cfs_state_of(cur) == CFS_FREE)
                continue; /* given back meanwhile, or another page now */
        }
        /* ARMING (the sampler is protecting it), FAULTED (another thread's handler) or
         * RESTORING (the sampler, a drain): the access retries */
        t->last_page = 0;
        return CFS_BUSY;
    }
    CFS_STEP(o, &w->released, 0);
    unsigned long released = __atomic_load_n(&w->released, __ATOMIC_SEQ_CST);
    if (t->last_page == page && t->last_released == released) {
        t->last_page = 0;
        return CFS_NOT_OURS;
    }
    t->last_page = page;
    t->last_released = released;
    return CFS_RETRY;
}

/* Give back every PROTECTED page of the window; *busy counts the slots someone else is at. */
static inline unsigned cfs_give_back(struct cfs_window *w, int *busy, const struct cfs_ops *o)
{
    unsigned given = 0;
    CFS_STEP(o, &w->nr, 0);
    unsigned n = __atomic_load_n(&w->nr, __ATOMIC_SEQ_CST);
    for (unsigned i = 0; i < n; i++) {
        struct cfs_slot *s = &w->slots[i];
        CFS_STEP(o, &s->word, 0);
        uintptr_t cur = __atomic_load_n(&s->word, __ATOMIC_SEQ_CST);
        if (cfs_state_of(cur) == CFS_FREE)
            continue;
        if (cfs_state_of(cur) == CFS_PROTECTED) {
            CFS_STEP(o, &s->word, 1);
            if (__atomic_compare_exchange_n(&s->word, &cur, cfs_page_of(cur) | CFS_RESTORING, 0,
                                            __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
                cfs_release(w, s, cfs_page_of(cur), o);
                given++;
                continue;
            }
            if (cfs_state_of(cur) == CFS_FREE)
                continue;
        }
        (*busy)++; /* ARMING (the sampler finishes it), FAULTED or RESTORING */
    }
    return given;
}

/* The sampler thread's end of a window: give back every page still protected, then wait for
 * handlers still restoring, so no slot is reused under them. Returns the pages nobody
 * touched. */
static inline unsigned cfs_close(struct cfs_window *w, const struct cfs_ops *o)
{
    int busy = 0;
    unsigned untouched = cfs_give_back(w, &busy, o);
    unsigned n = __atomic_load_n(&w->nr, __ATOMIC_RELAXED); /* only this thread grows it */
    for (unsigned i = 0; i < n && busy; i++) {
        CFS_STEP(o, &w->slots[i].word, 0);
        while (cfs_state_of(__atomic_load_n(&w->slots[i].word, __ATOMIC_SEQ_CST)) != CFS_FREE)
            o->wait();
    }
    return untouched;
}

/* The pthread_create wrapper, around glibc's: nothing is protected from begin to end. The
 * count of thread creations first, then the window emptied, until no slot is busy; the
 * sampler publishes a slot ARMING first, then reads the count (cfs_arm): whichever comes
 * second sees the other (sequentially consistent), so a page is either never protected or
 * given back here. */
static inline void cfs_create_begin(struct cfs_window *w, const struct cfs_ops *o)
{
    CFS_STEP(o, &w->creating, 1);
    __atomic_fetch_add(&w->creating, 1, __ATOMIC_SEQ_CST);
    for (;;) {
        int busy = 0;
        cfs_give_back(w, &busy, o);
        if (!busy)
            return;
        o->wait();
    }
}

static inline void cfs_create_end(struct cfs_window *w, const struct cfs_ops *o)
{
    CFS_STEP(o, &w->creating, 1);
    __atomic_fetch_sub(&w->creating, 1, __ATOMIC_SEQ_CST);
}

enum cfs_arm_result {
    CFS_ARMED, /* page protected, held by slot i */
    CFS_GONE,  /* mprotect failed (unmapped since the scan): try another page */
    CFS_STOP,  /* a thread is being made: protect nothing more */
};

/* The sampler protects page (whose protection is prot) in slot i, FREE, of the window it
 * is opening. */
static inline enum cfs_arm_result cfs_arm(struct cfs_window *w, unsigned i, uintptr_t page,
                                          int prot, const struct cfs_ops *o)
{
    struct cfs_slot *s = &w->slots[i];
    __atomic_store_n(&s->prot, prot, __ATOMIC_RELAXED); /* FREE: nobody reads it */
    /* ARMING until the page is protected: a handler that finds the slot meanwhile (a thread
     * that faulted on this page in the last window, its handler late) must not take it.
     * Published as PROTECTED before the mprotect, the slot was taken by such a handler,
     * which gave the page its protection back and freed the slot, and then the mprotect
     * protected a page no slot held: the next access was passed on as the program's own
     * fault ("twice on a page no window holds"), which killed lab runs of xpv-cf-work. */
    CFS_STEP(o, &s->word, 1);
    __atomic_store_n(&s->word, page | CFS_ARMING, __ATOMIC_SEQ_CST);
    if (i + 1 > __atomic_load_n(&w->nr, __ATOMIC_RELAXED)) {
        CFS_STEP(o, &w->nr, 1);
        __atomic_store_n(&w->nr, i + 1, __ATOMIC_SEQ_CST);
    }
    /* then whether a thread is being made, before anything is protected (cfs_create_begin);
     * checked after the mprotect, a thread's creation could begin and find the window empty
     * just before it (found by the test) */
    CFS_STEP(o, &w->creating, 0);
    if (__atomic_load_n(&w->creating, __ATOMIC_SEQ_CST)) {
        CFS_STEP(o, &s->word, 1);
        __atomic_store_n(&s->word, page | CFS_FREE, __ATOMIC_SEQ_CST);
        return CFS_STOP;
    }
    CFS_STEP(o, page, 1);
    if (o->protect(page) < 0) {
        CFS_STEP(o, &s->word, 1);
        __atomic_store_n(&s->word, page | CFS_FREE, __ATOMIC_SEQ_CST);
        return CFS_GONE;
    }
    CFS_STEP(o, &s->word, 1);
    __atomic_store_n(&s->word, page | CFS_PROTECTED, __ATOMIC_SEQ_CST);
    return CFS_ARMED;
}

/* A forked child (one thread: nobody else will move) gives back every page it inherited in
 * a slot past FREE, whatever the state: a handler or the sampler of the parent was at it,
 * and is not in the child. (Closing the window as the sampler does waited for ever on such
 * a slot, in the child's atfork handler: found by the test.) */
static inline void cfs_after_fork(struct cfs_window *w, const struct cfs_ops *o)
{
    unsigned n = __atomic_load_n(&w->nr, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < n; i++) {
        struct cfs_slot *s = &w->slots[i];
        uintptr_t cur = __atomic_load_n(&s->word, __ATOMIC_RELAXED);
        if (cfs_state_of(cur) == CFS_FREE)
            continue;
        o->restore(cfs_page_of(cur), __atomic_load_n(&s->prot, __ATOMIC_RELAXED));
        __atomic_store_n(&s->word, cfs_page_of(cur) | CFS_FREE, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&w->creating, 0, __ATOMIC_RELAXED);
}

/* Open a window of up to want pages in tries picks at most: pick(arg, &page, &prot) proposes
 * a page (1), says to try again (0: a page not to protect) or that there is none (-1). A
 * page picked twice is protected once. Returns the pages protected. */
static inline unsigned cfs_open(struct cfs_window *w, unsigned want, unsigned tries,
                                int (*pick)(void *arg, uintptr_t *page, int *prot), void *arg,
                                const struct cfs_ops *o)
{
    unsigned n = 0;
    for (unsigned t = 0; n < want && t < tries; t++) {
        CFS_STEP(o, &w->creating, 0);
        if (__atomic_load_n(&w->creating, __ATOMIC_RELAXED))
            break; /* a thread is being made (cfs_arm checks it again, in order) */
        uintptr_t page;
        int prot;
        int r = pick(arg, &page, &prot);
        if (r < 0)
            break;
        if (r == 0)
            continue;
        int dup = 0;
        for (unsigned i = 0; i < n && !dup; i++) /* this thread's own writes */
            dup = cfs_page_of(__atomic_load_n(&w->slots[i].word, __ATOMIC_RELAXED)) == page;
        if (dup)
            continue;
        enum cfs_arm_result a = cfs_arm(w, n, page, prot, o);
        if (a == CFS_STOP)
            break;
        if (a == CFS_ARMED)
            n++;
    }
    return n;
}

#endif
