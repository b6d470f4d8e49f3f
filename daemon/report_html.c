/* The HTML report (see report_html.h). Charts are drawn as SVG by hand-placed elements in a
 * fixed view box; values come from the published JSON and are escaped where they are text. */
#include "report_html.h"

#include "html.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s != NULL ? s : "";
}

static bool num(const json_t *o, const char *key, double *out)
{
	const json_t *v = json_object_get(o, key);
	if (!json_is_number(v))
		return false;
	*out = json_number_value(v);
	return true;
}

/* A published figure as table text: the value (with "indicatief") or its note. */
static void figure_cell(FILE *f, const json_t *fig, const char *unit)
{
	double v;
	if (num(fig, "value", &v)) {
		fprintf(f, unit != NULL && strcmp(unit, "aantal") == 0 ? "%.0f" : "%.1f", v);
		if (unit != NULL && strcmp(unit, "%") == 0)
			fputs("%", f);
		if (json_is_true(json_object_get(fig, "indicative")))
			fputs(" <small>(indicatief)</small>", f);
	} else {
		fputs("<span class=\"suppressed\" title=\"", f);
		html_escape(f, str(fig, "note"));
		fputs("\">&ndash; <small>", f);
		html_escape(f, str(fig, "note"));
		fputs("</small></span>", f);
	}
}

/* Funnel plot: the organisation's value against its denominator, the peer median as the
 * centre line and 95% and 99.8% control limits for a proportion or rate around it. */
static void funnel(FILE *f, const json_t *ind)
{
	const json_t *fn = json_object_get(ind, "funnel");
	double own, peer, den, scale;
	if (!num(json_object_get(ind, "own"), "value", &own) ||
	    !num(json_object_get(ind, "peer"), "value", &peer) || !num(fn, "denominator", &den) ||
	    !num(fn, "scale", &scale) || den <= 0)
		return;
	double p0 = peer / scale;
	if (p0 <= 0 || p0 >= 1)
		return;
	const double W = 320, H = 200, L = 44, B = 28;
	double xmin = log10(den / 8), xmax = log10(den * 8);
	double sd_own = scale * sqrt(p0 * (1 - p0) / den);
	double ymax = fmax(own, peer) + 4 * sd_own * 2,
	       ymin = fmax(0, fmin(own, peer) - 8 * sd_own);
	if (ymax <= ymin)
		ymax = ymin + 1;
#define X(n) (L + (log10(n) - xmin) / (xmax - xmin) * (W - L - 8))
#define Y(v) (H - B - ((v)-ymin) / (ymax - ymin) * (H - B - 8))
	fputs("<figure><svg class=\"chart funnel\" viewBox=\"0 0 320 200\" width=\"320\" "
	      "height=\"200\" role=\"img\" aria-label=\"trechterdiagram\">\n",
	      f);
	fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#999\"/>\n", L,
	        H - B, W - 8, H - B);
	fprintf(f, "<line x1=\"%.0f\" y1=\"8\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#999\"/>\n", L, L,
	        H - B);
	static const double z[] = {1.96, 3.09};
	static const char *const dash[] = {"4 3", "1 3"};
	for (int k = 0; k < 2; k++) {
		for (int side = -1; side <= 1; side += 2) {
			fputs("<polyline fill=\"none\" stroke=\"#c66\" stroke-dasharray=\"", f);
			fputs(dash[k], f);
			fputs("\" points=\"", f);
			for (int s = 0; s <= 40; s++) {
				double n = pow(10, xmin + (xmax - xmin) * s / 40);
				double v = scale * (p0 + side * z[k] * sqrt(p0 * (1 - p0) / n));
				v = fmin(fmax(v, ymin), ymax);
				fprintf(f, "%.1f,%.1f ", X(n), Y(v));
			}
			fputs("\"/>\n", f);
		}
	}
	fprintf(f,
	        "<line class=\"peer\" x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" "
	        "stroke=\"#333\"/>\n",
	        L, Y(peer), W - 8, Y(peer));
	fprintf(f,
	        "<circle class=\"own\" cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"#1565c0\"/>\n"
	        "<text x=\"%.0f\" y=\"%.0f\" font-size=\"10\">%.1f</text>\n"
	        "<text x=\"%.0f\" y=\"%.0f\" font-size=\"10\">%.1f</text>\n"
	        "<text x=\"%.0f\" y=\"%.0f\" font-size=\"10\" text-anchor=\"middle\">noemer "
	        "(logaritmisch)</text>\n",
	        X(den), Y(own), 2.0, Y(ymax) + 4, ymax, 2.0, Y(ymin), ymin, (W + L) / 2, H - 6);
#undef X
#undef Y
	fputs("</svg><figcaption>", f);
	html_escape(f, str(ind, "label"));
	fputs(": uw organisatie (punt) tegen de mediaan van de andere organisaties (lijn), met "
	      "95%- en 99,8%-grenzen.</figcaption></figure>\n",
	      f);
}

/* Bars of the service-mode mix, own against the peer median. */
static void mix_chart(FILE *f, const json_t *indicators)
{
	static const char *const ids[] = {"blended_pct", "collective_pct", "online_pct"};
	static const char *const names[] = {"blended", "groep", "online"};
	fputs("<figure><svg class=\"chart mix\" viewBox=\"0 0 360 170\" width=\"360\" "
	      "height=\"170\" role=\"img\" aria-label=\"mix van hulpvormen\">\n",
	      f);
	for (int k = 0; k < 3; k++) {
		size_t i;
		const json_t *ind, *found = NULL;
		json_array_foreach(indicators, i, ind)
		{
			if (strcmp(str(ind, "id"), ids[k]) == 0)
				found = ind;
		}
		double own = 0, peer = 0;
		bool has_own = num(json_object_get(found, "own"), "value", &own);
		bool has_peer = num(json_object_get(found, "peer"), "value", &peer);
		double y = 14 + k * 50;
		fprintf(f, "<text x=\"0\" y=\"%.0f\" font-size=\"11\">%s</text>\n", y + 12,
		        names[k]);
		if (has_own)
			fprintf(
			    f,
			    "<rect class=\"own\" x=\"70\" y=\"%.0f\" width=\"%.1f\" height=\"14\" "
			    "fill=\"#1565c0\"/><text x=\"%.1f\" y=\"%.0f\" "
			    "font-size=\"10\">%.1f%%</text>\n",
			    y, own * 2.4, 74 + own * 2.4, y + 11, own);
		if (has_peer)
			fprintf(
			    f,
			    "<rect class=\"peer\" x=\"70\" y=\"%.0f\" width=\"%.1f\" height=\"14\" "
			    "fill=\"#9e9e9e\"/><text x=\"%.1f\" y=\"%.0f\" "
			    "font-size=\"10\">%.1f%%</text>\n",
			    y + 17, peer * 2.4, 74 + peer * 2.4, y + 28, peer);
	}
	fputs("</svg><figcaption>Mix van hulpvormen: trajecten met blended hulp, met groepsaanbod "
	      "en met online hulp; blauw uw organisatie, grijs de mediaan van de andere "
	      "organisaties.</figcaption></figure>\n",
	      f);
}

/* Effect sizes d_av with confidence intervals for the modes of all themes together. */
static void effects_chart(FILE *f, const json_t *effects)
{
	size_t i;
	const json_t *e;
	int row = 0;
	fputs("<figure><svg class=\"chart effects\" viewBox=\"0 0 360 190\" width=\"360\" "
	      "height=\"190\" role=\"img\" aria-label=\"effectgroottes\">\n",
	      f);
	/* Axis from -0.5 to 2.0. */
	const double x0 = 90, w = 250, lo = -0.5, hi = 2.0;
#define XD(v) (x0 + ((v)-lo) / (hi - lo) * w)
	fprintf(f, "<line x1=\"%.1f\" y1=\"4\" x2=\"%.1f\" y2=\"170\" stroke=\"#999\"/>\n", XD(0),
	        XD(0));
	for (double t = -0.5; t <= 2.0001; t += 0.5)
		fprintf(f,
		        "<text x=\"%.1f\" y=\"184\" font-size=\"9\" "
		        "text-anchor=\"middle\">%.1f</text>\n",
		        XD(t), t);
	json_array_foreach(json_object_get(effects, "effects"), i, e)
	{
		const json_t *d = json_object_get(e, "d_av");
		double v, a, b;
		if (strcmp(str(e, "theme"), "ALL") != 0 || !num(d, "value", &v) ||
		    !num(d, "lo", &a) || !num(d, "hi", &b) || row >= 6)
			continue;
		double y = 16 + row * 26;
		fprintf(f,
		        "<text x=\"0\" y=\"%.0f\" font-size=\"11\">%s</text>\n"
		        "<line class=\"ci\" x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" "
		        "stroke=\"#1565c0\" stroke-width=\"2\"/>\n"
		        "<rect class=\"estimate\" x=\"%.1f\" y=\"%.0f\" width=\"8\" height=\"8\" "
		        "fill=\"#1565c0\"/>\n",
		        y + 4, str(e, "mode"), XD(fmax(a, lo)), y, XD(fmin(b, hi)), y, XD(v) - 4,
		        y - 4);
		row++;
	}
#undef XD
	fputs("</svg><figcaption>Effectgrootte d<sub>av</sub> (Hedges-gecorrigeerd) met 95%-"
	      "betrouwbaarheidsinterval per hulpvorm, alle thema's samen.</figcaption>"
	      "</figure>\n",
	      f);
}

static void benchmark_table(FILE *f, const json_t *b)
{
	fputs("<table><thead><tr><th>Indicator</th><th>Eenheid</th><th>Uw organisatie</th>"
	      "<th>Mediaan andere organisaties</th></tr></thead><tbody>\n",
	      f);
	size_t i;
	const json_t *ind;
	json_array_foreach(json_object_get(b, "indicators"), i, ind)
	{
		fputs("<tr><td>", f);
		html_escape(f, str(ind, "label"));
		fputs("</td><td>", f);
		html_escape(f, str(ind, "unit"));
		fputs("</td><td>", f);
		figure_cell(f, json_object_get(ind, "own"), str(ind, "unit"));
		fputs("</td><td>", f);
		figure_cell(f, json_object_get(ind, "peer"), str(ind, "unit"));
		fputs("</td></tr>\n", f);
	}
	fputs("</tbody></table>\n", f);
}

static void effects_table(FILE *f, const json_t *effects)
{
	fputs("<table><thead><tr><th>Thema</th><th>Hulpvorm</th><th>n</th><th>Voor</th>"
	      "<th>Na</th><th>Verandering (95%-BI)</th><th>d<sub>av</sub> (95%-BI)</th>"
	      "<th>Betrouwbaar verbeterd</th><th>Andere organisaties</th></tr></thead><tbody>\n",
	      f);
	size_t i;
	const json_t *e;
	json_array_foreach(json_object_get(effects, "effects"), i, e)
	{
		fputs("<tr><td>", f);
		html_escape(f,
		            strcmp(str(e, "theme"), "ALL") == 0 ? "alle thema's" : str(e, "theme"));
		fputs("</td><td>", f);
		html_escape(f, str(e, "mode"));
		fputs("</td>", f);
		if (strcmp(str(e, "status"), "shown") != 0) {
			fputs("<td colspan=\"6\" class=\"suppressed\">", f);
			html_escape(f, str(e, "note"));
			fputs("</td>", f);
		} else {
			double n = 0, v, a, b;
			const json_t *mc = json_object_get(e, "mean_change");
			const json_t *d = json_object_get(e, "d_av");
			fputs("<td>", f);
			if (num(e, "n", &n))
				fprintf(f, "%.0f", n);
			if (json_is_true(json_object_get(e, "indicative")))
				fputs(" <small>(indicatief)</small>", f);
			fputs("</td><td>", f);
			figure_cell(f, json_object_get(e, "mean_before"), NULL);
			fputs("</td><td>", f);
			figure_cell(f, json_object_get(e, "mean_after"), NULL);
			fputs("</td><td>", f);
			if (num(mc, "value", &v) && num(mc, "lo", &a) && num(mc, "hi", &b))
				fprintf(f, "%.2f (%.2f tot %.2f)", v, a, b);
			fputs("</td><td>", f);
			if (num(d, "value", &v) && num(d, "lo", &a) && num(d, "hi", &b))
				fprintf(f, "%.2f (%.2f tot %.2f)", v, a, b);
			fputs("</td><td>", f);
			figure_cell(f, json_object_get(e, "reliably_improved_pct"), "%");
			fputs("</td>", f);
		}
		fputs("<td>", f);
		figure_cell(f, json_object_get(e, "peer"), NULL);
		fputs("</td></tr>\n", f);
	}
	fputs("</tbody></table>\n", f);
}

static void comparisons(FILE *f, const json_t *effects)
{
	size_t i, k;
	const json_t *c, *m;
	json_array_foreach(json_object_get(effects, "comparisons"), i, c)
	{
		fputs("<h3>", f);
		html_escape(f,
		            strcmp(str(c, "theme"), "ALL") == 0 ? "Alle thema's" : str(c, "theme"));
		fputs("</h3>\n<p class=\"caveat\">", f);
		html_escape(f, str(c, "label"));
		fputs(
		    "</p>\n<table><thead><tr><th>Hulpvorm</th><th>Gecorrigeerde verandering "
		    "(95%-BI)</th><th>Verschil met referentie (95%-BI)</th><th>p</th></tr></thead>"
		    "<tbody>\n",
		    f);
		json_array_foreach(json_object_get(c, "modes"), k, m)
		{
			double v = 0, a = 0, b = 0, p = 1;
			num(m, "adjusted_change", &v);
			num(m, "lo", &a);
			num(m, "hi", &b);
			fputs("<tr><td>", f);
			html_escape(f, str(m, "mode"));
			fprintf(f, "%s</td><td>%.2f (%.2f tot %.2f)</td><td>",
			        json_is_true(json_object_get(m, "reference")) ? " (referentie)"
			                                                      : "",
			        v, a, b);
			if (!json_is_true(json_object_get(m, "reference"))) {
				num(m, "difference", &v);
				num(m, "difference_lo", &a);
				num(m, "difference_hi", &b);
				num(m, "p", &p);
				fprintf(f, "%.2f (%.2f tot %.2f)</td><td>%.3f", v, a, b, p);
			} else {
				fputs("</td><td>", f);
			}
			fputs("</td></tr>\n", f);
		}
		fputs("</tbody></table>\n", f);
	}
}

char *report_html(const json_t *b, const json_t *effects)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (f == NULL)
		return NULL;
	fputs("<!DOCTYPE html>\n<html lang=\"nl\"><head><meta charset=\"utf-8\">\n<title>"
	      "Benchmark ",
	      f);
	html_escape(f, str(b, "organisation"));
	fputs(" ", f);
	html_escape(f, str(b, "period"));
	fputs("</title>\n<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;"
	      "color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border-bottom:1px "
	      "solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}"
	      ".suppressed{color:#777}.caveat{background:#fff3cd;padding:.5em}figure{display:"
	      "inline-block;margin:.5em 1em .5em 0;vertical-align:top}figcaption{font-size:.8em;"
	      "max-width:30em}</style>\n</head><body>\n<h1>Benchmark en effectmeting</h1>\n<p>",
	      f);
	html_escape(f, str(b, "organisation"));
	fputs(", periode ", f);
	html_escape(f, str(b, "period"));
	fprintf(f,
	        ". Vergeleken met %lld organisaties samen; u ziet uw eigen cijfers en de "
	        "mediaan van de andere organisaties, nooit hun afzonderlijke cijfers.</p>\n",
	        (long long)json_integer_value(json_object_get(b, "organisations")) - 1);
	fputs("<h2>Indicatoren</h2>\n", f);
	benchmark_table(f, b);
	fputs("<h2>Grafieken</h2>\n", f);
	mix_chart(f, json_object_get(b, "indicators"));
	size_t i;
	const json_t *ind;
	json_array_foreach(json_object_get(b, "indicators"), i, ind)
	{
		if (json_object_get(ind, "funnel") != NULL)
			funnel(f, ind);
	}
	if (effects != NULL) {
		fputs("<h2>Effectmeting</h2>\n<p>Instrument ", f);
		html_escape(f, str(effects, "instrument"));
		fputs(
		    ": verandering tussen voormeting en nameting van dezelfde bewoners, per thema "
		    "en hulpvorm.</p>\n",
		    f);
		effects_chart(f, effects);
		effects_table(f, effects);
		fputs("<h2>Hulpvormen vergeleken</h2>\n", f);
		comparisons(f, effects);
	}
	fputs("<h2>Toelichting</h2>\n<ul>\n", f);
	const char *key;
	const json_t *v;
	json_object_foreach(json_object_get(b, "notes"), key, v)
	{
		fputs("<li>", f);
		html_escape(f, json_string_value(v));
		fputs("</li>\n", f);
	}
	fputs("</ul>\n</body></html>\n", f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
