/* Alert e-mails in Dutch (see mail.h). Text is written through open_memstream; the HTML part
 * escapes every value that comes from the database. */
#include "mail.h"

#include "html.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

/* The fields of a delivery that the message shows (borrowed from the parsed body). */
struct view {
	const char *type, *area, *code, *theme, *state, *from, *to, *actor, *note, *link;
	const char *first_week, *last_week, *method, *trend;
	json_t *observed, *expected, *upperbound, *ratio, *recurrence, *initiatives;
};

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s != NULL ? s : "";
}

static const char *state_nl(const char *state)
{
	return strcmp(state, "new") == 0                  ? "nieuw"
	       : strcmp(state, "acknowledged") == 0       ? "gezien"
	       : strcmp(state, "initiative_started") == 0 ? "initiatief gestart"
	       : strcmp(state, "closed") == 0             ? "gesloten"
	                                                  : state;
}

static const char *trend_nl(const char *trend)
{
	return strcmp(trend, "rising") == 0    ? "stijgend"
	       : strcmp(trend, "falling") == 0 ? "dalend"
	                                       : "geen duidelijke trend";
}

/* Writes a JSON number with one decimal (integers as they are), or "onbekend". */
static void number(FILE *f, json_t *v)
{
	if (json_is_integer(v))
		fprintf(f, "%lld", (long long)json_integer_value(v));
	else if (json_is_number(v))
		fprintf(f, "%.1f", json_number_value(v));
	else
		fputs("onbekend", f);
}

/* Writes s, HTML-escaped when html is set. */
static void put(FILE *f, const char *s, bool html)
{
	if (html)
		html_escape(f, s);
	else
		fputs(s, f);
}

/* The headline of the message, also the subject after "[wijkradar] ". */
static void headline(FILE *f, const struct view *v, bool html)
{
	if (strcmp(v->type, "alert.raised") == 0)
		fputs("Nieuw patroon: ", f);
	else if (strcmp(v->type, "alert.escalated") == 0)
		fputs("Patroon groeit: ", f);
	else
		fprintf(f, "Signaal %s: ", state_nl(v->to[0] != '\0' ? v->to : v->state));
	put(f, v->theme, html);
	fputs(" in ", f);
	put(f, v->area, html);
}

/* A label and value line of the figures; in HTML a table row. */
static void row_start(FILE *f, const char *label, bool html)
{
	fprintf(f,
	        html ? "<tr><th style=\"text-align:left;padding-right:1em\">%s</th><td>" : "%-16s ",
	        label);
}

static void row_end(FILE *f, bool html)
{
	fputs(html ? "</td></tr>\n" : "\n", f);
}

static void row_text(FILE *f, const char *label, const char *value, bool html)
{
	row_start(f, label, html);
	put(f, value, html);
	row_end(f, html);
}

static void body(FILE *f, const struct view *v, const char *msg_id, bool html)
{
	const char *p = html ? "<p>" : "", *pe = html ? "</p>\n" : "\n\n";
	if (html)
		fputs("<!DOCTYPE html>\n<html lang=\"nl\"><head><meta charset=\"utf-8\"><title>",
		      f);
	if (html) {
		headline(f, v, true);
		fputs("</title></head>\n<body style=\"font-family:sans-serif\">\n<h1 "
		      "style=\"font-size:1.3em\">",
		      f);
		headline(f, v, true);
		fputs("</h1>\n", f);
	}
	fputs(p, f);
	if (strcmp(v->type, "alert.state_changed") == 0) {
		fputs("De status van dit signaal is gewijzigd van ", f);
		put(f, state_nl(v->from), html);
		fputs(" naar ", f);
		put(f, state_nl(v->to), html);
		fputs(" (", f);
		put(f, v->actor, html);
		fputs(").", f);
		if (v->note[0] != '\0') {
			fputs(" Notitie: ", f);
			put(f, v->note, html);
		}
	} else {
		fputs(
		    strcmp(v->type, "alert.escalated") == 0
		        ? "Het patroon groeit: wijkradar telt meer bewoners met deze vraag dan bij "
		          "de vorige analyse in "
		        : "Wijkradar ziet een vraag die vaker dan verwacht terugkomt in ",
		    f);
		put(f, v->area, html);
		fputs(" (", f);
		put(f, v->code, html);
		fputs("): ", f);
		put(f, v->theme, html);
		fputs(". Een collectief antwoord (zoals een wandelclub of een schuldhulpcafé) kan "
		      "meer bewoners helpen dan hulp aan ieder apart.",
		      f);
	}
	fputs(pe, f);
	if (html)
		fputs("<table>\n", f);
	row_start(f, "Bewoners", html);
	number(f, v->observed);
	fputs(" in week ", f);
	put(f, v->last_week, html);
	fputs(", verwacht ", f);
	number(f, v->expected);
	fputs(" (bovengrens ", f);
	number(f, v->upperbound);
	fputs(")", f);
	row_end(f, html);
	row_start(f, "Verhouding", html);
	number(f, v->ratio);
	fputs(" keer zo veel als verwacht", f);
	row_end(f, html);
	row_start(f, "Weken", html);
	put(f, v->first_week, html);
	fputs(" t/m ", f);
	put(f, v->last_week, html);
	row_end(f, html);
	row_text(f, "Trend", trend_nl(v->trend), html);
	if (json_is_number(v->recurrence)) {
		row_start(f, "Herhalingstijd", html);
		fputs("eens in de ", f);
		number(f, v->recurrence);
		fputs(" weken bij toeval", f);
		row_end(f, html);
	}
	row_text(f, "Methode", v->method, html);
	row_text(f, "Status", state_nl(v->state), html);
	if (html)
		fputs("</table>\n", f);
	fputs(html ? "<h2 style=\"font-size:1.1em\">Wat er al is</h2>\n<ul>\n"
	           : "\nWat er al is:\n",
	      f);
	size_t i;
	json_t *in;
	json_array_foreach(v->initiatives, i, in)
	{
		fputs(html ? "<li>" : "- ", f);
		put(f, str(in, "name"), html);
		fputs(strcmp(str(in, "where"), "in_area") == 0 ? " (in de wijk"
		                                               : " (in een buurwijk",
		      f);
		if (str(in, "contact_role")[0] != '\0') {
			fputs("; contact: ", f);
			put(f, str(in, "contact_role"), html);
		}
		fputs(")", f);
		if (str(in, "url")[0] != '\0') {
			fputs(" ", f);
			put(f, str(in, "url"), html);
		}
		fputs(html ? "</li>\n" : "\n", f);
	}
	if (json_array_size(v->initiatives) == 0)
		fputs(html ? "<li>Geen bekende initiatieven voor dit thema in of rond deze "
		             "wijk.</li>\n"
		           : "Geen bekende initiatieven voor dit thema in of rond deze wijk.\n",
		      f);
	if (html) {
		fputs("</ul>\n<p><a href=\"", f);
		put(f, v->link, true);
		fputs("\">Bekijk het signaal in wijkradar</a></p>\n<p style=\"color:#666;"
		      "font-size:0.8em\">wijkradar, bericht ",
		      f);
		put(f, msg_id, true);
		fputs("</p>\n</body></html>\n", f);
	} else {
		fprintf(f, "\nBekijk het signaal: %s\n\n-- \nwijkradar, bericht %s\n", v->link,
		        msg_id);
	}
}

/* Runs `fn` into a new string; NULL when out of memory. */
static char *render(const struct view *v, const char *msg_id, bool html, bool subject)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (f == NULL)
		return NULL;
	if (subject) {
		fputs("[wijkradar] ", f);
		headline(f, v, false);
	} else {
		body(f, v, msg_id, html);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

char *mail_encode_header(const char *value)
{
	size_t n = strlen(value);
	bool plain = true;
	for (size_t i = 0; i < n && plain; i++)
		plain = value[i] >= 0x20 && value[i] < 0x7f;
	if (plain)
		return strdup(value);
	/* Words of up to 45 bytes (60 base64 characters, 72 with "=?UTF-8?B?" and "?="),
	 * cut before a UTF-8 continuation byte. */
	char *out = malloc(n / 45 * 80 + 80 + n * 2), *o = out;
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t take = n - i < 45 ? n - i : 45;
		while (i + take < n && take > 1 && ((unsigned char)value[i + take] & 0xc0) == 0x80)
			take--;
		if (o != out)
			*o++ = ' ';
		o += sprintf(o, "=?UTF-8?B?");
		o += EVP_EncodeBlock((unsigned char *)o, (const unsigned char *)value + i,
		                     (int)take);
		o += sprintf(o, "?=");
		i += take;
	}
	*o = '\0';
	return out;
}

int mail_render(const char *text, const char *msg_id, struct mail_message *out)
{
	memset(out, 0, sizeof(*out));
	json_t *root = json_loads(text, 0, NULL);
	json_t *data = json_object_get(root, "data");
	json_t *alert = json_object_get(data, "alert"), *event = json_object_get(data, "event");
	if (!json_is_object(alert) || !json_is_object(event) ||
	    !json_is_string(json_object_get(root, "type"))) {
		json_decref(root);
		return -EINVAL;
	}
	struct view v = {
	    .type = str(root, "type"),
	    .area = str(alert, "area_name")[0] != '\0' ? str(alert, "area_name")
	                                               : str(alert, "area_code"),
	    .code = str(alert, "area_code"),
	    .theme = str(alert, "theme_label")[0] != '\0' ? str(alert, "theme_label")
	                                                  : str(alert, "theme"),
	    .state = str(alert, "state"),
	    .from = str(event, "from"),
	    .to = str(event, "to"),
	    .actor = str(event, "actor"),
	    .note = str(event, "note"),
	    .link = str(json_object_get(data, "links"), "alert"),
	    .first_week = str(alert, "first_week"),
	    .last_week = str(alert, "last_week"),
	    .method = str(alert, "method"),
	    .trend = str(alert, "trend"),
	    .observed = json_object_get(alert, "observed"),
	    .expected = json_object_get(alert, "expected"),
	    .upperbound = json_object_get(alert, "upperbound"),
	    .ratio = json_object_get(alert, "ratio"),
	    .recurrence = json_object_get(alert, "recurrence_weeks"),
	    .initiatives = json_object_get(alert, "initiatives"),
	};
	char *subject = render(&v, msg_id, false, true);
	out->subject = subject != NULL ? mail_encode_header(subject) : NULL;
	out->text = render(&v, msg_id, false, false);
	out->html = render(&v, msg_id, true, false);
	free(subject);
	json_decref(root);
	if (out->subject == NULL || out->text == NULL || out->html == NULL) {
		mail_message_free(out);
		return -ENOMEM;
	}
	return 0;
}

void mail_message_free(struct mail_message *m)
{
	free(m->subject);
	free(m->text);
	free(m->html);
	memset(m, 0, sizeof(*m));
}
