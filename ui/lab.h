/* The lab: the interactive ncurses front end (ui/lab.c). */
#ifndef MADLAB_LAB_H
#define MADLAB_LAB_H

/* Runs the lab on the terminal; returns the process exit status. demo: play the scripted tour
 * first. threads: training threads (0 = all cores). */
int lab_main(int demo, int threads);

#endif
