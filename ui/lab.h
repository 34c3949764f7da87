/* The lab: the interactive ncurses front end (ui/lab.c). */
#ifndef MADLAB_LAB_H
#define MADLAB_LAB_H

/* Runs the lab on the terminal; returns the process exit status. demo: play the scripted tour
 * first. threads: training threads (0 = all cores). The scaling view shows the n_scale
 * directories scale_dirs made by madlab scale, each with its MAD directory mad_dirs[i] (NULL:
 * none); one that cannot be read ends the lab before it starts, with the reason. */
int lab_main(int demo, int threads, int n_scale, const char *const *scale_dirs,
             const char *const *mad_dirs);

#endif
