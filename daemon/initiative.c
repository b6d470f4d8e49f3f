/* Initiative records (see initiative.h). */
#include "initiative.h"

#include "area_csv.h"
#include "ingest.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Splits `list` into at most INITIATIVE_MAX_LIST items of at most width-1 characters each,
 * upper-cased, checking each with `ok`. Returns the count or -1 (with e filled). */
static int split(const char *list, char (*out)[33], size_t width, bool (*ok)(const char *),
                 const char *field, struct err *e)
{
	int n = 0;
	const char *p = list != NULL ? list : "";
	while (*p != '\0') {
		size_t len = strcspn(p, ";, \t");
		if (len > 0) {
			if (n == INITIATIVE_MAX_LIST || len >= width) {
				err_set(e, 400, "invalid_initiative",
				        "field \"%s\": too many or too long items", field);
				return -1;
			}
			char *item = (char *)out + (size_t)n * width;
			for (size_t i = 0; i < len; i++)
				item[i] = (char)toupper((unsigned char)p[i]);
			item[len] = '\0';
			if (!ok(item)) {
				err_set(e, 400, "invalid_initiative",
				        "field \"%s\": invalid code \"%s\"", field, item);
				return -1;
			}
			n++;
		}
		p += len;
		p += strspn(p, ";, \t");
	}
	if (n == 0) {
		err_set(e, 400, "invalid_initiative", "field \"%s\" is required", field);
		return -1;
	}
	return n;
}

static bool theme_ok(const char *s)
{
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == strlen(s) && isalpha(*s);
}

static bool area_ok(const char *s)
{
	return area_code_kind(s) != NULL;
}

/* A free text: 1..max bytes, no control characters, nothing personal. */
static int text_field(const char *v, size_t max, bool required, const char *field, char *out,
                      struct err *e)
{
	size_t n = v != NULL ? strlen(v) : 0;
	if (n == 0 && required)
		return err_set(e, 400, "invalid_initiative", "field \"%s\" is required", field);
	if (n > max)
		return err_set(e, 400, "invalid_initiative",
		               "field \"%s\" is longer than %zu bytes", field, max);
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return err_set(e, 400, "invalid_initiative",
			               "field \"%s\" contains a control character", field);
	}
	const char *why = n > 0 ? ingest_personal_data(v) : NULL;
	if (why != NULL)
		return err_set(e, 400, "invalid_initiative",
		               "field \"%s\" %s; record a role, not a person", field, why);
	memcpy(out, n > 0 ? v : "", n + 1);
	return 0;
}

int initiative_parse(const char *code, const char *name, const char *themes, const char *areas,
                     const char *contact_role, const char *url, const char *active,
                     struct initiative *in, struct err *e)
{
	memset(in, 0, sizeof(*in));
	size_t n = code != NULL ? strlen(code) : 0;
	if (n == 0 || n > 64 || !isalnum((unsigned char)code[0]) ||
	    strspn(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-") != n)
		return err_set(e, 400, "invalid_initiative",
		               "field \"code\" must be 1-64 letters, digits and _ . : -");
	memcpy(in->code, code, n + 1);
	if (text_field(name, 200, true, "name", in->name, e) < 0 ||
	    text_field(contact_role, 200, false, "contact_role", in->contact_role, e) < 0)
		return -EINVAL;
	if (url != NULL && url[0] != '\0') {
		if (strlen(url) > 300 ||
		    (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) ||
		    strpbrk(url, " \t\r\n\"<>") != NULL)
			return err_set(e, 400, "invalid_initiative",
			               "field \"url\" must be an http(s) address");
		snprintf(in->url, sizeof(in->url), "%s", url);
	}
	in->active = true;
	if (active != NULL && active[0] != '\0') {
		if (strcasecmp(active, "true") == 0 || strcmp(active, "1") == 0 ||
		    strcasecmp(active, "ja") == 0)
			in->active = true;
		else if (strcasecmp(active, "false") == 0 || strcmp(active, "0") == 0 ||
		         strcasecmp(active, "nee") == 0)
			in->active = false;
		else
			return err_set(e, 400, "invalid_initiative",
			               "field \"active\" must be true or false");
	}
	in->n_themes = split(themes, in->themes, sizeof(in->themes[0]), theme_ok, "themes", e);
	if (in->n_themes < 0)
		return -EINVAL;
	in->n_areas = split(areas, in->areas, sizeof(in->areas[0]), area_ok, "areas", e);
	return in->n_areas < 0 ? -EINVAL : 0;
}

int initiative_array(const struct initiative *in, bool areas, char *buf, size_t size)
{
	size_t len = 0;
	int n = areas ? in->n_areas : in->n_themes;
	int w = snprintf(buf, size, "{");
	len = (size_t)w;
	for (int i = 0; i < n; i++) {
		w = snprintf(buf + len, size - len, "%s%s", i > 0 ? "," : "",
		             areas ? in->areas[i] : in->themes[i]);
		if (w < 0 || (size_t)w >= size - len)
			return -ENOSPC;
		len += (size_t)w;
	}
	if (len + 2 > size)
		return -ENOSPC;
	buf[len++] = '}';
	buf[len] = '\0';
	return 0;
}
