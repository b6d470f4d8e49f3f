/* Report threads (see report_worker.h). A job owns copies of everything its thread reads; the
 * thread touches nothing else and wakes the loop with event_active when done. */
#include "report_worker.h"

#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

struct job {
	struct report_worker *w;
	struct job *next;
	pthread_t thread;
	struct event *done;
	struct report_request rq;
	char *conninfo;
	int timeout_s;
	report_done_fn *cb;
	void *arg;
	pthread_mutex_t cancel_lock; /* guards cancel, shared with the thread */
	PGcancel *cancel;            /* of the thread's connection while it runs */
	/* written by the thread */
	int rc;
	char *text;
	struct err e;
};

struct report_worker {
	struct daemon *d;
	struct job *jobs;
	int running;
};

static void *run(void *arg)
{
	struct job *j = arg;
	char options[64];
	snprintf(options, sizeof(options), "-c statement_timeout=%ds", j->timeout_s);
	PGconn *conn = db_connect_blocking(j->conninfo, "wijkradar-report", options, &j->e);
	if (conn != NULL) {
		pthread_mutex_lock(&j->cancel_lock);
		j->cancel = PQgetCancel(conn);
		pthread_mutex_unlock(&j->cancel_lock);
	}
	j->rc = conn != NULL ? report_make(conn, &j->rq, &j->text, &j->e) : -EIO;
	pthread_mutex_lock(&j->cancel_lock);
	PQfreeCancel(j->cancel);
	j->cancel = NULL;
	pthread_mutex_unlock(&j->cancel_lock);
	PQfinish(conn);
	event_active(j->done, EV_READ, 0);
	return NULL;
}

static void unlink_job(struct job *j)
{
	struct job **p = &j->w->jobs;
	while (*p != NULL && *p != j)
		p = &(*p)->next;
	if (*p == j)
		*p = j->next;
}

/* Joins the thread, reports the outcome (status forced when `status` is not 0), frees. */
static void finish(struct job *j, int status)
{
	pthread_join(j->thread, NULL);
	unlink_job(j);
	j->w->running--;
	if (status != 0) {
		free(j->text);
		j->text = NULL;
		j->rc = status;
		err_set(&j->e, 503, "shutting_down", "the daemon is stopping");
	}
	j->cb(j->arg, j->rc, j->text, &j->e);
	event_free(j->done);
	pthread_mutex_destroy(&j->cancel_lock);
	free(j->conninfo);
	free(j);
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	finish(arg, 0);
}

struct report_worker *report_worker_new(struct daemon *d)
{
	struct report_worker *w = calloc(1, sizeof(*w));
	if (w == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	w->d = d;
	return w;
}

void report_worker_free(struct report_worker *w)
{
	if (w == NULL)
		return;
	/* Cancel the statements in progress, so that stopping does not wait for reports. */
	for (struct job *j = w->jobs; j != NULL; j = j->next) {
		char msg[256];
		pthread_mutex_lock(&j->cancel_lock);
		if (j->cancel != NULL && !PQcancel(j->cancel, msg, sizeof(msg)))
			log_warn("report", "could not cancel a report query: %s", msg);
		pthread_mutex_unlock(&j->cancel_lock);
	}
	while (w->jobs != NULL)
		finish(w->jobs, -ECANCELED);
	free(w);
}

int report_worker_submit(struct report_worker *w, const struct report_request *rq,
                         report_done_fn *cb, void *arg)
{
	const struct config *c = w->d->config;
	if (w->running >= c->report_max_concurrent)
		return -EAGAIN;
	struct job *j = calloc(1, sizeof(*j));
	if (j == NULL)
		return -ENOMEM;
	*j =
	    (struct job){.w = w, .rq = *rq, .timeout_s = c->report_timeout_s, .cb = cb, .arg = arg};
	pthread_mutex_init(&j->cancel_lock, NULL);
	j->conninfo = strdup(c->db_conninfo);
	j->done = event_new(w->d->base, -1, 0, on_done, j);
	if (j->conninfo == NULL || j->done == NULL ||
	    pthread_create(&j->thread, NULL, run, j) != 0) {
		if (j->done != NULL)
			event_free(j->done);
		pthread_mutex_destroy(&j->cancel_lock);
		free(j->conninfo);
		free(j);
		return -ENOMEM;
	}
	j->next = w->jobs;
	w->jobs = j;
	w->running++;
	return 0;
}
