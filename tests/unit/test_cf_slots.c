/*
 * test_cf_slots.c — the software sampler's slot protocol (src/carrefour/cfsampler_slots.h,
 * the very code libxpv-cfsampler.so runs) driven through every interleaving of its steps.
 *
 * The actors — the sampler thread (closing and opening windows), program threads touching
 * pages (whose fault handler runs cfs_fault), a thread being made (cfs_create_begin, glibc's
 * part with every signal blocked, cfs_create_end) — are coroutines of one thread. The hooks
 * of the protocol (struct cfs_ops) hand control back to a scheduler before every step that
 * touches shared state; mprotect acts on a model of the pages' protections. The scheduler
 * enumerates the schedules systematically, depth first: each run replays a prefix of choices
 * and takes the first runnable actor after it; the next run moves the deepest choice that has
 * an alternative left. An actor waiting for another (cfs_ops.wait: a busy slot) is runnable
 * again only once the shared state changed, so waiting loops do not make schedules endless.
 *
 * After every step of every schedule it checks:
 *  - no page is protected unless a slot the handler looks at holds it in a state past FREE
 *    (its owner will give it back): otherwise the next access to it is "twice on a page no
 *    window holds" and kills the program (issue 21);
 *  - no page is protected while a thread is being made (glibc touches the heap with every
 *    signal blocked: a fault there kills the program with no word);
 *  - a program thread's fault on a page the sampler protected is never passed on as the
 *    program's own (cfs_fault's CFS_NOT_OURS: it would kill the program);
 *  - a process forked at this step gives back everything it inherited, without waiting
 *    (cfs_after_fork: the child has one thread, nobody else will move);
 * and at the end of each schedule: every slot FREE, every page unprotected, every access done.
 * A schedule that deadlocks (every actor waiting, nothing moving) or runs past MAX_STEPS fails.
 *
 * Schedules explored per scenario are printed; test_enumerates_all checks the enumerator on
 * actors of known step counts (two actors of a and b steps: C(a + b, a) schedules).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include <cmocka.h>

#include "cfsampler_slots.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TS_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TS_ASAN 1
#endif
#ifdef TS_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

#define NPAGES     3
#define NSLOTS     3 /* slots the model looks at (windows here are smaller) */
#define MAX_ACTORS 4
#define MAX_STEPS  400
#define STACK_SIZE (256 * 1024)
#define RW         3 /* PROT_READ | PROT_WRITE */

static uintptr_t page_addr(int i)
{
    return (uintptr_t)(i + 1) << 12;
}

static int page_index(uintptr_t page)
{
    for (int i = 0; i < NPAGES; i++)
        if (page_addr(i) == page)
            return i;
    fail_msg("a page the model does not have: %#lx", (unsigned long)page);
    return 0;
}

/* ---- the shared state: the window and the pages' protections ---- */

static struct cfs_window *W;  /* the window under test */
static int prot[NPAGES];      /* the model's page table: 0 is PROT_NONE */
static int creating_critical; /* actors inside glibc's part of pthread_create */

struct view { /* what the actors share, compared to tell whether anything moved */
    struct cfs_slot slots[NSLOTS];
    unsigned nr;
    int creating;
    unsigned long released;
    int prot[NPAGES];
};

static void take_view(struct view *v)
{
    memset(v, 0, sizeof(*v));
    memcpy(v->slots, W->slots, sizeof(v->slots));
    v->nr = W->nr;
    v->creating = W->creating;
    v->released = W->released;
    memcpy(v->prot, prot, sizeof(v->prot));
}

/* ---- actors: coroutines ---- */

struct actor;
typedef void actor_fn(struct actor *);

struct actor {
    const char *name;
    actor_fn *fn;
    ucontext_t ctx;
    char *stack;
    int done, waiting;
    struct view at_wait; /* the shared state its decision to wait was made on */
    struct view attempt; /* the shared state when its current attempt began */
    int attempt_open;
    const void *var; /* what its next step touches (NULL: nothing shared) */
    int write;       /* and whether it may change it */
    /* what it does */
    uintptr_t pages[4];
    unsigned nr_pages;
    int windows; /* the sampler: windows to open after closing the first */
    int critical_steps;
    /* what happened */
    int passed_on;
    struct cfs_thread thread; /* the handler's per-thread memory (TLS in cfsampler.c) */
};

static struct actor actors[MAX_ACTORS];
static unsigned nr_actors;
static struct actor *me;
static ucontext_t sched_ctx;
#ifdef TS_ASAN
static const void *sched_stack;
static size_t sched_stack_size;
#endif

static void to_scheduler(void)
{
#ifdef TS_ASAN
    void *fake = NULL;
    __sanitizer_start_switch_fiber(me->done ? NULL : &fake, sched_stack, sched_stack_size);
#endif
    swapcontext(&me->ctx, &sched_ctx);
#ifdef TS_ASAN
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
}

static void to_actor(struct actor *a)
{
    me = a;
#ifdef TS_ASAN
    void *fake = NULL;
    __sanitizer_start_switch_fiber(&fake, a->stack, STACK_SIZE);
#endif
    swapcontext(&sched_ctx, &a->ctx);
#ifdef TS_ASAN
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
}

static void actor_main(void)
{
#ifdef TS_ASAN
    __sanitizer_finish_switch_fiber(NULL, &sched_stack, &sched_stack_size);
#endif
    me->fn(me);
    me->done = 1;
    to_scheduler();
    abort(); /* never resumed */
}

/* the protocol's hooks */
static void hook_step(const void *var, int write)
{
    if (!me->attempt_open) { /* the first step since it last waited (or began) */
        take_view(&me->attempt);
        me->attempt_open = 1;
    }
    me->waiting = 0;
    me->var = var;
    me->write = write;
    to_scheduler();
}

#define ANY_VAR   ((const void *)1)      /* a waiting actor reads again whatever changed */
#define ALL_PAGES ((const void *)0x8000) /* glibc, signals blocked, may touch any page */

/* The actor saw a busy slot and waits for another to move: runnable again once the shared
 * state differs from what it was when the actor's attempt began (a change after any of the
 * attempt's reads shows), and its next attempt begins as it resumes. */
static void hook_wait(void)
{
    me->waiting = 1;
    me->var = ANY_VAR;
    me->write = 0;
    if (me->attempt_open)
        me->at_wait = me->attempt;
    else
        take_view(&me->at_wait);
    to_scheduler();
    take_view(&me->attempt);
    me->attempt_open = 1;
}

static int is_page(const void *var)
{
    return (uintptr_t)var >= page_addr(0) && (uintptr_t)var <= page_addr(NPAGES - 1);
}

/* Whether the next steps of a and b commute: they touch nothing in common, or only read it.
 * A waiting actor reads anything (any write may let it go on); glibc any page. */
static int independent(const struct actor *a, const struct actor *b)
{
    if (!a->var || !b->var)
        return 1;
    if (a->var == ANY_VAR || b->var == ANY_VAR)
        return !(a->var == ANY_VAR ? b->write : a->write);
    if (a->var == ALL_PAGES || b->var == ALL_PAGES) {
        const struct actor *o = a->var == ALL_PAGES ? b : a;
        return !(o->write && (is_page(o->var) || o->var == ALL_PAGES));
    }
    return a->var != b->var || (!a->write && !b->write);
}

static int protect_fails; /* cfs_ops.protect fails: the page was unmapped since the scan */

static int hook_protect(uintptr_t page)
{
    if (protect_fails)
        return -1;
    prot[page_index(page)] = 0;
    return 0;
}

static void hook_restore(uintptr_t page, int p)
{
    prot[page_index(page)] = p;
}

static const struct cfs_ops model_ops = {
        .protect = hook_protect, .restore = hook_restore, .wait = hook_wait, .step = hook_step};

/* ---- what the actors do ---- */

/* A program thread touching its pages, one after the other: an access to a protected page
 * faults, the handler runs (late, maybe: other actors may move first), and the access
 * retries. Two faults in a row on a page no slot holds: passed on, the program dies. */
static void program_thread(struct actor *a)
{
    for (unsigned k = 0; k < a->nr_pages; k++) {
        uintptr_t page = a->pages[k];
        for (;;) {
            hook_step((const void *)page, 0);
            if (prot[page_index(page)])
                break; /* the access went through */
            enum cfs_fault_result r = cfs_fault(W, page, &a->thread, &model_ops);
            if (r == CFS_NOT_OURS) {
                a->passed_on = 1;
                return;
            }
            if (r == CFS_BUSY)
                hook_wait(); /* someone else is at the slot: the access retries once it moved */
        }
    }
}

struct picks {
    const uintptr_t *pages;
    unsigned nr, next;
};

static int pick_next(void *arg, uintptr_t *page, int *p)
{
    struct picks *k = arg;
    if (k->next >= k->nr)
        return -1;
    *page = k->pages[k->next++];
    *p = RW;
    return 1;
}

/* The sampler thread: close the window open at the start, open one on its pages
 * (a->windows times, the same pages each time), and close the last one, as it does when
 * the program ends. */
static void sampler_thread(struct actor *a)
{
    cfs_close(W, &model_ops);
    for (int k = 0; k < a->windows; k++) {
        struct picks p = {a->pages, a->nr_pages, 0};
        cfs_open(W, a->nr_pages, a->nr_pages, pick_next, &p, &model_ops);
        cfs_close(W, &model_ops);
    }
}

/* A thread being made: the wrapper around glibc's pthread_create. */
static void creating_thread(struct actor *a)
{
    cfs_create_begin(W, &model_ops);
    creating_critical++;
    for (int k = 0; k < a->critical_steps; k++)
        hook_step(ALL_PAGES, 0); /* glibc, every signal blocked, may touch any page now */
    creating_critical--;
    cfs_create_end(W, &model_ops);
}

/* ---- the checks ---- */

static char problem[512];
static int with_forks; /* check_fork after every step (test_fork_at_every_step) */

static int owned(const struct cfs_window *w, uintptr_t page)
{
    for (unsigned i = 0; i < w->nr && i < NSLOTS; i++)
        if (cfs_page_of(w->slots[i].word) == page && cfs_state_of(w->slots[i].word) != CFS_FREE)
            return 1;
    return 0;
}

static jmp_buf fork_hang;
static void fork_wait(void)
{
    longjmp(fork_hang, 1); /* the child has one thread: a wait is for ever */
}

/* A fork at this step: the child's copy of the window and the pages, given back. */
static void check_fork(void)
{
    static struct cfs_window child;
    memcpy(&child, W, sizeof(child));
    int saved[NPAGES];
    memcpy(saved, prot, sizeof(saved));
    struct cfs_window *parent = W;
    W = &child;
    static const struct cfs_ops child_ops = {
            .protect = hook_protect, .restore = hook_restore, .wait = fork_wait, .step = NULL};
    if (setjmp(fork_hang) == 0) {
        cfs_after_fork(&child, &child_ops);
        for (int i = 0; i < NPAGES && !problem[0]; i++)
            if (!prot[i])
                snprintf(problem, sizeof(problem), "a child forked here keeps page %d protected",
                         i);
    } else {
        snprintf(problem, sizeof(problem), "a child forked here waits for ever on a busy slot");
    }
    W = parent;
    memcpy(prot, saved, sizeof(saved));
}

static void check_step(void)
{
    for (int i = 0; i < NPAGES && !problem[0]; i++) {
        if (prot[i])
            continue;
        if (creating_critical)
            snprintf(problem, sizeof(problem),
                     "page %d is protected while a thread is being made (signals blocked)", i);
        else if (!owned(W, page_addr(i)))
            snprintf(problem, sizeof(problem), "page %d is protected and no slot holds it", i);
    }
    for (unsigned k = 0; k < nr_actors && !problem[0]; k++)
        if (actors[k].passed_on)
            snprintf(problem, sizeof(problem),
                     "%s's fault on a sampled page was passed on as its own: the program dies",
                     actors[k].name);
    if (!problem[0] && with_forks)
        check_fork();
}

static void check_end(void)
{
    for (unsigned i = 0; i < NSLOTS && !problem[0]; i++)
        if (cfs_state_of(W->slots[i].word) != CFS_FREE)
            snprintf(problem, sizeof(problem), "slot %u is left in state %d", i,
                     cfs_state_of(W->slots[i].word));
    for (int i = 0; i < NPAGES && !problem[0]; i++)
        if (!prot[i])
            snprintf(problem, sizeof(problem), "page %d is left protected", i);
}

/* ---- the scheduler ----
 *
 * Depth first over the schedules, each run replaying the choices of the last one up to the
 * deepest node with an alternative left, with sleep sets (Godefroid): at a node where actor
 * x's step was explored, a sibling branch that takes a step independent of x's does not take
 * x's next (x sleeps there until a dependent step is taken): that order reaches nothing the
 * explored one did not. Sleep sets visit every reachable state (only orders of commuting
 * steps are pruned), so the checks after every step still see every state the protocol can
 * reach. Every actor first runs to its first hook (nothing shared before it).
 */

typedef unsigned char set_t; /* actors, one bit each */

struct node {
    set_t enabled, dormant, done; /* done: the actors whose step was explored here */
    unsigned char chosen;
    const void *var[MAX_ACTORS];
    int write[MAX_ACTORS];
};

struct scenario {
    const char *name;
    void (*setup)(void); /* the window and pages at the start; the actors */
};

static struct cfs_window window;
static struct node path[MAX_STEPS + 1];

static int runnable(struct actor *a)
{
    if (a->done)
        return 0;
    if (!a->waiting)
        return 1;
    struct view v;
    take_view(&v);
    return memcmp(&v, &a->at_wait, sizeof(v)) != 0;
}

static void print_trace(unsigned len)
{
    printf("  schedule (%u steps):", len);
    for (unsigned d = 0; d < len; d++)
        printf(" %s", actors[path[d].chosen].name);
    printf("\n");
}

static int first_in(set_t s)
{
    for (int k = 0; k < MAX_ACTORS; k++)
        if (s & (1u << k))
            return k;
    return -1;
}

/* One run: the choices path[0 .. replay) again, then new nodes, each taking its first actor
 * awake. Returns the depth reached; problem[] says what broke, if anything; *pruned_out
 * whether the run stopped where every order left had been explored from another branch. */
static unsigned run_once(const struct scenario *sc, unsigned replay, int *pruned_out)
{
    memset(&window, 0, sizeof(window));
    W = &window;
    for (int i = 0; i < NPAGES; i++)
        prot[i] = RW;
    creating_critical = 0;
    protect_fails = 0;
    problem[0] = 0;
    for (unsigned k = 0; k < MAX_ACTORS; k++) {
        char *stack = actors[k].stack;
        memset(&actors[k], 0, sizeof(actors[k]));
        actors[k].stack = stack;
    }
    nr_actors = 0;
    sc->setup();
    struct view before, after;
    take_view(&before);
    for (unsigned k = 0; k < nr_actors; k++) {
        struct actor *a = &actors[k];
        if (!a->stack)
            a->stack = malloc(STACK_SIZE);
        assert_non_null(a->stack);
        getcontext(&a->ctx);
        a->ctx.uc_stack.ss_sp = a->stack;
        a->ctx.uc_stack.ss_size = STACK_SIZE;
        a->ctx.uc_link = NULL;
        makecontext(&a->ctx, actor_main, 0);
        to_actor(a); /* to its first hook */
    }
    take_view(&after);
    if (memcmp(&before, &after, sizeof(before)) != 0)
        fail_msg("an actor touched shared state before its first hook");
    unsigned d = 0;
    int pruned = 0;
    for (;; d++) {
        struct node *nd = &path[d];
        set_t en = 0;
        unsigned alive = 0;
        for (unsigned k = 0; k < nr_actors; k++) {
            alive += !actors[k].done;
            if (runnable(&actors[k]))
                en |= (set_t)(1u << k);
            nd->var[k] = actors[k].var;
            nd->write[k] = actors[k].write;
        }
        if (!alive)
            break;
        if (!en) {
            int n = snprintf(problem, sizeof(problem),
                             "deadlock: every actor left waits for another:");
            for (unsigned i = 0; i < NSLOTS && n > 0 && (size_t)n < sizeof(problem); i++)
                n += snprintf(problem + n, sizeof(problem) - (size_t)n, " slot %u state %d", i,
                              cfs_state_of(W->slots[i].word));
            if (n > 0 && (size_t)n < sizeof(problem))
                snprintf(problem + n, sizeof(problem) - (size_t)n, ", creating %d", W->creating);
            break;
        }
        if (d >= MAX_STEPS) {
            snprintf(problem, sizeof(problem), "no end after %d steps", MAX_STEPS);
            break;
        }
        if (d == 0)
            nd->dormant = 0; /* the root: nothing dormant */
        if (d >= replay) {   /* a new node */
            nd->enabled = en;
            nd->done = 0;
            int k = first_in((set_t)(en & ~nd->dormant));
            if (k < 0) {
                pruned = 1; /* every order from here was explored from another branch */
                break;
            }
            nd->chosen = (unsigned char)k;
        } else if (nd->enabled != en) {
            fail_msg("the replay diverged at step %u", d);
        }
        unsigned a = nd->chosen;
        /* the child's sleep set: what slept or was explored here, independent of a's step */
        set_t sl = 0, cand = (set_t)((nd->dormant | nd->done) & ~(1u << a));
        for (unsigned k = 0; k < nr_actors; k++)
            if ((cand & (1u << k)) && independent(&actors[k], &actors[a]))
                sl |= (set_t)(1u << k);
        path[d + 1].dormant = sl;
        to_actor(&actors[a]);
        check_step();
        if (problem[0]) {
            d++;
            break;
        }
    }
    if (!problem[0] && !pruned)
        check_end();
    *pruned_out = pruned;
    return d;
}

/* Every schedule of the scenario (up to commuting steps); fails on the first that breaks a
 * check, showing it. Returns the schedules run to their end. */
static unsigned long explore(const struct scenario *sc)
{
    unsigned replay = 0;
    unsigned long runs = 0, whole = 0, steps = 0;
    for (;;) {
        runs++;
        int pruned;
        unsigned depth = run_once(sc, replay, &pruned);
        whole += !pruned;
        if (problem[0]) {
            printf("%s: schedule %lu: %s\n", sc->name, runs, problem);
            print_trace(depth);
            fail_msg("%s: %s (schedule %lu)", sc->name, problem, runs);
        }
        steps += depth;
        /* the deepest node with an actor awake and not explored yet */
        unsigned d = depth < MAX_STEPS ? depth : MAX_STEPS;
        for (;;) {
            if (d == 0)
                goto out;
            d--;
            struct node *nd = &path[d];
            nd->done |= (set_t)(1u << nd->chosen);
            int k = first_in((set_t)(nd->enabled & ~nd->dormant & ~nd->done));
            if (k >= 0) {
                nd->chosen = (unsigned char)k;
                replay = d + 1;
                break;
            }
        }
    }
out:
    printf("%s: %lu schedules to their end, %lu runs, %lu steps: every check held\n", sc->name,
           whole, runs, steps);
    return whole;
}

static struct actor *add_actor(const char *name, actor_fn *fn)
{
    assert_true(nr_actors < MAX_ACTORS);
    struct actor *a = &actors[nr_actors++];
    a->name = name;
    a->fn = fn;
    return a;
}

/* A window already open: page i protected in slot i, as cfs_arm leaves it. */
static void open_on(const int *pages, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        W->slots[i] = (struct cfs_slot){.word = page_addr(pages[i]) | CFS_PROTECTED, .prot = RW};
        prot[pages[i]] = 0;
    }
    W->nr = n;
}

/* ---- the enumerator itself ---- */

static int steps_a, shared_counter, other_counter;
static void counter_a(struct actor *a)
{
    (void)a;
    for (int k = 0; k < steps_a; k++) {
        hook_step(&shared_counter, 1);
        shared_counter++;
    }
}
static void counter_b(struct actor *a)
{
    (void)a;
    for (int k = 0; k < steps_a; k++) {
        hook_step(&other_counter, 1);
        other_counter++;
    }
}
static void setup_dependent(void)
{
    add_actor("A", counter_a);
    add_actor("B", counter_a);
}
static void setup_independent(void)
{
    add_actor("A", counter_a);
    add_actor("B", counter_b);
}

static unsigned long binomial(unsigned n, unsigned k)
{
    unsigned long r = 1;
    for (unsigned i = 1; i <= k; i++)
        r = r * (n - k + i) / i;
    return r;
}

/* Two actors of a steps each on one variable: every interleaving, each once, C(2a, a); on two
 * variables apart: one (they all reach the same states). */
static void test_enumerates_all(void **state)
{
    (void)state;
    for (steps_a = 1; steps_a <= 5; steps_a++) {
        unsigned long runs = explore(&(struct scenario){"dependent steps", setup_dependent});
        assert_int_equal(runs, binomial(2 * (unsigned)steps_a, (unsigned)steps_a));
        runs = explore(&(struct scenario){"independent steps", setup_independent});
        assert_int_equal(runs, 1);
    }
}

/* ---- the scenarios ---- */

/* A thread faults on page 0 of the open window; its handler may run late, after the sampler
 * closed that window and opened the next on the same page (the race of 6161d8e: a slot
 * published PROTECTED before its mprotect). */
static void setup_late_same_page(void)
{
    open_on((const int[]){0}, 1);
    struct actor *t = add_actor("T", program_thread);
    t->pages[t->nr_pages++] = page_addr(0);
    struct actor *s = add_actor("S", sampler_thread);
    s->pages[s->nr_pages++] = page_addr(0);
    s->windows = 1;
}

static void test_late_handler_same_page(void **state)
{
    (void)state;
    explore(&(struct scenario){"late handler, same page next window", setup_late_same_page});
}

/* The same with the next window on another page, in the slot the late handler looks at. */
static void setup_late_other_page(void)
{
    open_on((const int[]){0}, 1);
    struct actor *t = add_actor("T", program_thread);
    t->pages[t->nr_pages++] = page_addr(0);
    struct actor *s = add_actor("S", sampler_thread);
    s->pages[s->nr_pages++] = page_addr(1);
    s->windows = 1;
}

static void test_late_handler_other_page(void **state)
{
    (void)state;
    explore(&(struct scenario){"late handler, another page in its slot", setup_late_other_page});
}

/* Two threads fault on the same page; the sampler closes the window. */
static void setup_two_handlers(void)
{
    open_on((const int[]){0}, 1);
    struct actor *t = add_actor("T", program_thread);
    t->pages[t->nr_pages++] = page_addr(0);
    struct actor *u = add_actor("U", program_thread);
    u->pages[u->nr_pages++] = page_addr(0);
    add_actor("S", sampler_thread);
}

static void test_two_handlers_one_page(void **state)
{
    (void)state;
    explore(&(struct scenario){"two handlers, one page", setup_two_handlers});
}

/* A thread is made while the sampler opens a window of two pages (the race of 93a9248:
 * glibc's pthread_create blocks every signal and touches the heap). */
static void setup_creating(void)
{
    struct actor *s = add_actor("S", sampler_thread);
    s->pages[s->nr_pages++] = page_addr(0);
    s->pages[s->nr_pages++] = page_addr(1);
    s->windows = 1;
    struct actor *c = add_actor("C", creating_thread);
    c->critical_steps = 1;
}

static void test_thread_made_while_opening(void **state)
{
    (void)state;
    explore(&(struct scenario){"a thread made while a window opens", setup_creating});
}

/* ... while a program thread faults on a page of the open window (the thread's creation waits
 * for the handler, then gives back the page if the handler did not). */
static void setup_creating_fault(void)
{
    open_on((const int[]){0}, 1);
    struct actor *t = add_actor("T", program_thread);
    t->pages[t->nr_pages++] = page_addr(0);
    struct actor *c = add_actor("C", creating_thread);
    c->critical_steps = 1;
}

static void test_thread_made_while_faulting(void **state)
{
    (void)state;
    explore(&(struct scenario){"a thread made while a handler runs", setup_creating_fault});
}

/* Every scenario again, with a fork after every step of every schedule. */
static void test_fork_at_every_step(void **state)
{
    (void)state;
    with_forks = 1;
    explore(&(struct scenario){"fork: late handler, same page", setup_late_same_page});
    explore(&(struct scenario){"fork: late handler, other page", setup_late_other_page});
    explore(&(struct scenario){"fork: two handlers", setup_two_handlers});
    explore(&(struct scenario){"fork: thread made, window opening", setup_creating});
    explore(&(struct scenario){"fork: thread made, handler running", setup_creating_fault});
    with_forks = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_enumerates_all),
            cmocka_unit_test(test_late_handler_same_page),
            cmocka_unit_test(test_late_handler_other_page),
            cmocka_unit_test(test_two_handlers_one_page),
            cmocka_unit_test(test_thread_made_while_opening),
            cmocka_unit_test(test_thread_made_while_faulting),
            cmocka_unit_test(test_fork_at_every_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
