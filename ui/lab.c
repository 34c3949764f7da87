/* The lab: compose a stack, pick a task, train on a background thread, watch it live.
 *
 * This file sets the terminal up, runs the loop and restores the terminal; the views, modals,
 * forms and drawing live beside it (see ui/README). Only the main (UI) thread calls curses. The
 * trainer runs on the engine's Runner thread and publishes into its monitor; this loop poll()s
 * the terminal, the runner's wake pipe and a self-pipe for signals, copies what was published,
 * and redraws.
 * Signal handlers only set a flag and write to the self-pipe; every exit path calls endwin(). */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700
#endif
#include "config.h"

#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lab.h"
#include "labui.h"

Lab lab;

/* The views in tab order: the title bar, Tab and the key table's view masks follow it. */
const View *const lab_views[] = {&view_stack, &view_task, &view_run, &view_results, &view_state, &view_scale, NULL};

static volatile sig_atomic_t g_signal;
static int g_sigpipe[2] = {-1, -1};
static int g_curses_on;

static void on_signal(int sig)
{
    g_signal = sig;
    if (g_sigpipe[1] >= 0) {
        char c = (char)sig;
        ssize_t w = write(g_sigpipe[1], &c, 1);
        (void)w;
    }
}

static void restore_terminal(void)
{
    if (g_curses_on && !isendwin()) endwin();
    g_curses_on = 0;
}

void lab_status(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lab.status, sizeof lab.status, fmt, ap);
    va_end(ap);
    lab.status_err = err;
    lab.status_t = ml_now();
    lab.dirty = 1;
}

void lab_open(const Modal *m)
{
    lab.modal = m;
    lab.m_cur = lab.m_scroll = 0;
}

static const View *current_view(void)
{
    for (const View *const *v = lab_views; *v; v++)
        if ((*v)->id == lab.view) return *v;
    return lab_views[0];
}

static void draw(void)
{
    erase();
    int rows, cols;
    getmaxyx(stdscr, rows, cols);
    layout_compute(cols, rows, &lab.lay);
    if (lab.lay.too_small) {
        put(0, 0, cols, S_WARN, "madlab needs a terminal of at least %dx%d", UI_MIN_COLS, UI_MIN_ROWS);
        put(1, 0, cols, S_NORMAL, "(this one is %dx%d; q quits)", cols, rows);
        refresh();
        return;
    }
    current_view()->draw();
    demo_draw();
    if (lab.modal) {
        Rect b = lab.lay.body;
        int w = b.w - 8 < 100 ? b.w - 8 : 100, h = b.h - 2;
        Rect r = {(b.w - w) / 2, b.y + 1, w, h};
        Rect in = {r.x + 2, r.y + 1, r.w - 4, r.h - 2};
        lab.modal->draw(r, in);
    }
    draw_frame();
    refresh();
    lab.dirty = 0;
    lab.last_draw = ml_now();
}

/* ---------------- keys ---------------- */

static int translate(int ch)
{
    switch (ch) {
    case KEY_UP: return UK_UP;
    case KEY_DOWN: return UK_DOWN;
    case KEY_LEFT: return UK_LEFT;
    case KEY_RIGHT: return UK_RIGHT;
    case KEY_PPAGE: return UK_PGUP;
    case KEY_NPAGE: return UK_PGDN;
    case KEY_HOME: return UK_HOME;
    case KEY_END: return UK_END;
    case KEY_DC: return UK_DEL;
    case KEY_IC: return UK_INS;
    case KEY_BACKSPACE: case 127: case 8: return UK_BACKSPACE;
    case KEY_ENTER: case '\r': return UK_ENTER;
    case KEY_RESIZE: return UK_RESIZE;
    }
    if (ch >= KEY_F(1) && ch <= KEY_F(24)) return UK_F(ch - KEY_F0);
    return ch;
}

static void handle_key(int k)
{
    lab.dirty = 1;
    if (k == UK_RESIZE) return; /* the next draw lays out the new size */
    if (lab.demo && demo_key(k)) return;
    if (lab.modal) {
        lab.modal->key(k);
        return;
    }
    if (lab.lay.too_small && k != 'q' && k != UK_F(10)) return;
    Action a = key_action(k, lab.view);
    const View *v = current_view();
    if (a != ACT_NONE && !lab_action(a) && v->key) v->key(a);
}

/* ---------------- setup, the loop, restore ---------------- */

static void defaults(void)
{
    memset(&lab, 0, sizeof lab);
    lab.view = V_STACK;
    lab.width = 128;
    lab.norm = NORM_RMS;
    lab.epochs = 10;
    lab.batch = 128;
    lab.lr = 1e-3;
    lab.wd = 0.1;
    lab.seed = 12345;
    lab.overlay[0] = lab.overlay[1] = -1;
    lab.snap.id = -1; /* no run yet: the first frame shows no run line */
    labdata_init(&lab.data);
    lab.s_seed = 1;
    for (int i = 0; i < lab_n_tasks(); i++) lab.task_cfg[i] = task_all[i]->defaults;
    lab.cur_task = labdata_task_index(&lab.data, "in-context-recall");
    if (lab.cur_task < 0) lab.cur_task = 0;
    Preset p;
    MlError err;
    if (preset_load("default", &p, &err) == 0) {
        lab.stack = p.stack;
        lab.width = p.width;
        lab.norm = p.norm;
        snprintf(lab.preset, sizeof lab.preset, "%s", p.name);
    } else {
        TrainCfg c;
        train_cfg_default(&c);
        lab.stack = c.stack;
    }
}

int lab_main(int demo, int threads, int n_scale, const char *const *scale_dirs,
             const char *const *mad_dirs)
{
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "madlab: the lab needs a terminal; for headless training use "
                        "madlab run --preset default --task in-context-recall\n");
        return 2;
    }
    setlocale(LC_ALL, "");
    defaults();
    MlError err;
    for (int i = 0; i < n_scale; i++)
        if (lab_scale_add(scale_dirs[i], mad_dirs[i], &err) < 0) {
            fprintf(stderr, "madlab: --scale-dir %s: %s\n", scale_dirs[i], err.msg);
            return 2;
        }
    lab_scale_load_own();
    if (pool_init(threads) != 0) {
        fprintf(stderr, "madlab: could not start %d threads\n", threads);
        return 1;
    }
    if (!(lab.runner = runner_new(&err))) {
        fprintf(stderr, "madlab: %s\n", err.msg);
        return 1;
    }
    if (pipe(g_sigpipe) != 0) {
        fprintf(stderr, "madlab: cannot create a pipe: %s\n", strerror(errno));
        return 1;
    }
    for (int i = 0; i < 2; i++) fcntl(g_sigpipe[i], F_SETFL, fcntl(g_sigpipe[i], F_GETFL) | O_NONBLOCK);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL); /* Ctrl-\ too leaves through restore_terminal */
    atexit(restore_terminal);

    lab.utf8 = !strcmp(nl_langinfo(CODESET), "UTF-8");
    set_escdelay(25);
    /* newterm, not initscr: initscr exits on an unknown TERM, newterm lets us say why */
    SCREEN *scr = newterm(NULL, stdout, stdin);
    /* Refused like other usage errors (status 2): a terminal curses does not know, one that
     * cannot move the cursor (TERM=dumb: every frame would be garbage), or one too small. */
    const char *why = NULL, *hint = "try TERM=xterm-256color";
    char small[96];
    if (scr) {
        const char *cup = tigetstr("cup");
        int rows, cols;
        getmaxyx(stdscr, rows, cols);
        Layout lay;
        layout_compute(cols, rows, &lay);
        if (!cup || cup == (char *)-1) why = "cannot move the cursor";
        else if (lay.too_small) {
            snprintf(small, sizeof small, "is %dx%d; the lab needs at least %dx%d", cols, rows,
                     UI_MIN_COLS, UI_MIN_ROWS);
            why = small;
            hint = "enlarge it";
        }
        if (why) {
            endwin();
            delscreen(scr);
        }
    }
    if (!scr || why) {
        fprintf(stderr, "madlab: the terminal (TERM=%s) %s; %s, or use madlab run headless\n",
                getenv("TERM") ? getenv("TERM") : "unset", why ? why : "is unknown", hint);
        runner_free(lab.runner);
        pool_shutdown();
        return 2;
    }
    g_curses_on = 1;
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    curs_set(0);
    theme_init();
    task_sample_draw();
    if (demo) demo_start();
    lab.dirty = 1;

    while (!lab.quit) {
        if (g_signal) {
            lab_status(1, "signal %d: stopping", (int)g_signal);
            lab.rc = 128 + (int)g_signal;
            break;
        }
        double now = ml_now();
        int live = lab.snap.id >= 0 && lab.snap.state == RUN_RUNNING;
        /* redraw on change, at most 20 times a second; once a second while training (clock) */
        if ((lab.dirty && now - lab.last_draw >= 0.05) || (live && now - lab.last_draw >= 1.0)) draw();
        int timeout = lab.dirty ? 50 : live ? 250 : 1000;
        struct pollfd fds[3] = {{STDIN_FILENO, POLLIN, 0},
                                {runner_wake_fd(lab.runner), POLLIN, 0},
                                {g_sigpipe[0], POLLIN, 0}};
        int pr = poll(fds, 3, timeout);
        if (pr < 0 && errno != EINTR) break;
        if (pr > 0 && (fds[1].revents & POLLIN)) runner_drain_wake(lab.runner);
        if (pr > 0 && (fds[2].revents & POLLIN)) {
            char buf[16];
            while (read(g_sigpipe[0], buf, sizeof buf) > 0) {
            }
        }
        lab_pull();
        /* keys: always try, since a resize arrives as KEY_RESIZE after poll was interrupted */
        int ch;
        while ((ch = getch()) != ERR) {
            handle_key(translate(ch));
            if (lab.quit) break;
        }
        demo_tick();
        /* a message stays STATUS_KEEP_S (an error twice as long); then the hints come back */
        if (lab.status[0] && ml_now() - lab.status_t >= (lab.status_err ? 2 : 1) * STATUS_KEEP_S) {
            lab.status[0] = 0;
            lab.dirty = 1;
        }
    }
    restore_terminal();
    delscreen(scr);
    /* Stop the run between steps and drop the queue. Once the worker is idle, one last pull
     * gives a run that ended meanwhile its result file (a scaling run's). A long step is not
     * waited for (nothing else is lost: exports are explicit). If the step outlasts the wait,
     * leave at once with _exit: exit()'s handlers would tear down OpenBLAS under the worker still
     * inside a product. The terminal is already restored above. */
    runner_stop_all(lab.runner);
    for (double t0 = ml_now(); runner_busy(lab.runner) && ml_now() - t0 < 1.0;) usleep(5000);
    lab_pull();
    if (runner_shutdown(lab.runner, 0.5) != 0) {
        fflush(stdout);
        fflush(stderr);
        _exit(lab.rc);
    }
    pool_shutdown();
    lab.runner = NULL;
    labdata_free(&lab.data);
    free(lab.s_in);
    free(lab.s_tg);
    free(lab.scale);
    for (int k = 0; k < lab.n_jobs; k++) free(lab.jobs[k]);
    close(g_sigpipe[0]);
    close(g_sigpipe[1]);
    g_sigpipe[0] = g_sigpipe[1] = -1;
    return lab.rc;
}
