/* Unit tests for the pure parts of alert delivery: Standard Webhooks signatures (against the
 * specification's published vector), the retry policy, the Dutch e-mail, and the validation
 * of a new subscription. */
#include "mail.h"
#include "retry.h"
#include "subscription.h"
#include "webhook.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#define assert_near(a, b, eps) assert_true(fabs((a) - (b)) <= (eps))

/* --- webhook ------------------------------------------------------------------------------- */

static void test_sign_matches_the_published_vector(void **state)
{
	char sig[WEBHOOK_SIGNATURE_SIZE];
	static const char body[] = "{\"test\": 2432232314}";
	assert_int_equal(webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	                              "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
	                              strlen(body), sig),
	                 0);
	assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
	/* Any change of id, time or body changes the signature. */
	char other[WEBHOOK_SIGNATURE_SIZE];
	assert_int_equal(webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	                              "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, body,
	                              strlen(body), other),
	                 0);
	assert_string_not_equal(sig, other);
	assert_int_equal(webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	                              "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
	                              strlen(body) - 1, other),
	                 0);
	assert_string_not_equal(sig, other);
}

static void test_sign_refuses_malformed_secrets(void **state)
{
	static const char *const bad[] = {
	    "",          "whsec_",     "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	    "whsec_abc", "whsec_!!!!", "whsk_MfKQ9r8GKYqrTwjU"};
	char sig[WEBHOOK_SIGNATURE_SIZE];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (webhook_sign(bad[i], "msg_1", 1, "x", 1, sig) != -EINVAL)
			print_error("secret \"%s\" accepted\n", bad[i]);
		assert_int_equal(webhook_sign(bad[i], "msg_1", 1, "x", 1, sig), -EINVAL);
	}
}

static void test_new_secrets_are_random_32_bytes(void **state)
{
	char a[WEBHOOK_SECRET_SIZE], b[WEBHOOK_SECRET_SIZE];
	unsigned char key[64];
	assert_int_equal(webhook_secret_new(a), 0);
	assert_int_equal(webhook_secret_new(b), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(strlen(a), WEBHOOK_SECRET_SIZE - 1);
	assert_memory_equal(a, "whsec_", 6);
	assert_int_equal(EVP_DecodeBlock(key, (const unsigned char *)a + 6, 44), 33);
	assert_string_equal(a + 6 + 43, "=");
	char sig[WEBHOOK_SIGNATURE_SIZE];
	assert_int_equal(webhook_sign(a, "msg_1", 1, "x", 1, sig), 0);
}

/* --- retry policy -------------------------------------------------------------------------- */

static void test_http_outcomes(void **state)
{
	static const struct {
		CURLcode rc;
		long status;
		enum retry_verdict verdict;
		const char *reason;
	} cases[] = {
	    {CURLE_OK, 200, RETRY_DELIVERED, NULL},
	    {CURLE_OK, 204, RETRY_DELIVERED, NULL},
	    {CURLE_OK, 302, RETRY_DEAD, "http_3xx"},
	    {CURLE_OK, 400, RETRY_DEAD, "http_4xx"},
	    {CURLE_OK, 410, RETRY_DEAD, "http_4xx"},
	    {CURLE_OK, 429, RETRY_AGAIN, "http_429"},
	    {CURLE_OK, 500, RETRY_AGAIN, "http_5xx"},
	    {CURLE_OK, 503, RETRY_AGAIN, "http_5xx"},
	    {CURLE_COULDNT_CONNECT, 0, RETRY_AGAIN, "network"},
	    {CURLE_RECV_ERROR, 0, RETRY_AGAIN, "network"},
	    {CURLE_OPERATION_TIMEDOUT, 0, RETRY_AGAIN, "timeout"},
	    {CURLE_PEER_FAILED_VERIFICATION, 0, RETRY_AGAIN, "tls"},
	    {CURLE_SSL_CONNECT_ERROR, 0, RETRY_AGAIN, "tls"},
	    {CURLE_UNSUPPORTED_PROTOCOL, 0, RETRY_DEAD, "invalid_target"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct retry_outcome o = retry_classify_http(cases[i].rc, cases[i].status);
		if (o.verdict != cases[i].verdict)
			print_error("case %zu: verdict %d\n", i, o.verdict);
		assert_int_equal(o.verdict, cases[i].verdict);
		if (cases[i].reason == NULL)
			assert_null(o.reason);
		else
			assert_string_equal(o.reason, cases[i].reason);
	}
}

static void test_smtp_outcomes(void **state)
{
	struct retry_outcome o = retry_classify_smtp(CURLE_OK, 250);
	assert_int_equal(o.verdict, RETRY_DELIVERED);
	o = retry_classify_smtp(CURLE_SEND_ERROR, 550);
	assert_int_equal(o.verdict, RETRY_DEAD);
	assert_string_equal(o.reason, "smtp_5xx");
	o = retry_classify_smtp(CURLE_SEND_ERROR, 451);
	assert_int_equal(o.verdict, RETRY_AGAIN);
	assert_string_equal(o.reason, "smtp_4xx");
	o = retry_classify_smtp(CURLE_COULDNT_CONNECT, 0);
	assert_int_equal(o.verdict, RETRY_AGAIN);
	assert_string_equal(o.reason, "network");
	o = retry_classify_smtp(CURLE_USE_SSL_FAILED, 0);
	assert_int_equal(o.verdict, RETRY_AGAIN);
	assert_string_equal(o.reason, "tls");
}

static void test_delay_doubles_with_jitter_and_cap(void **state)
{
	/* base 10 s: full delays 10, 20, 40, ... capped at 3600; jitter keeps half to all. */
	assert_near(retry_delay_s(1, 10000, 3600, 0, 0.0), 5.0, 1e-9);
	assert_near(retry_delay_s(1, 10000, 3600, 0, 0.999999), 10.0, 1e-4);
	assert_near(retry_delay_s(2, 10000, 3600, 0, 0.5), 15.0, 1e-9);
	assert_near(retry_delay_s(3, 10000, 3600, 0, 1.0), 40.0, 1e-9);
	assert_near(retry_delay_s(12, 10000, 3600, 0, 1.0), 3600.0, 1e-9);
	assert_near(retry_delay_s(12, 10000, 3600, 0, 0.0), 1800.0, 1e-9);
	/* Attempts far beyond the cap do not overflow. */
	assert_near(retry_delay_s(1000, 10000, 3600, 0, 1.0), 3600.0, 1e-9);
	/* Retry-After wins when longer, up to a day; a shorter one does not shorten the wait. */
	assert_near(retry_delay_s(1, 10000, 3600, 120, 0.0), 120.0, 1e-9);
	assert_near(retry_delay_s(3, 10000, 3600, 2, 1.0), 40.0, 1e-9);
	assert_near(retry_delay_s(1, 10000, 3600, 1e9, 0.0), 86400.0, 1e-9);
}

/* --- e-mail -------------------------------------------------------------------------------- */

static const char delivery_body[] =
    "{\"type\": \"alert.raised\", \"timestamp\": \"2026-11-23T06:00:04.512Z\", \"data\": {"
    "\"alert\": {\"id\": 12, \"area_code\": \"WK008020\", \"area_name\": \"Oud-Oost <&>\","
    " \"theme\": \"EENZAAM\", \"theme_label\": \"Eenzaamheid en sociaal netwerk\","
    " \"state\": \"new\", \"observed\": 14, \"expected\": 5.12, \"upperbound\": 11.2,"
    " \"ratio\": 2.73, \"trend\": \"rising\", \"first_week\": \"2026-W46\","
    " \"last_week\": \"2026-W47\", \"method\": \"farrington\", \"recurrence_weeks\": 512.5,"
    " \"initiatives\": [{\"name\": \"Wandelclub Oud-Oost\", \"where\": \"in_area\","
    " \"contact_role\": \"buurtwerker\", \"url\": \"https://example.nl/wandel\"}]},"
    " \"event\": {\"id\": 40, \"kind\": \"raised\", \"from\": null, \"to\": null,"
    " \"actor\": \"analysis run 7\", \"note\": null},"
    " \"links\": {\"alert\": \"https://wijkradar.example.nl/v1/alerts/12\"}}}";

static void test_mail_in_dutch_with_the_evidence(void **state)
{
	struct mail_message m;
	assert_int_equal(mail_render(delivery_body, "msg_0123", &m), 0);
	assert_string_equal(m.subject,
	                    "[wijkradar] Nieuw patroon: Eenzaamheid en sociaal netwerk in "
	                    "Oud-Oost <&>");
	static const char *const in_text[] = {
	    "Oud-Oost <&> (WK008020)",
	    "14 in week 2026-W47, verwacht 5.1 (bovengrens 11.2)",
	    "2.7 keer zo veel als verwacht",
	    "2026-W46 t/m 2026-W47",
	    "stijgend",
	    "Wandelclub Oud-Oost (in de wijk; contact: buurtwerker) https://example.nl/wandel",
	    "https://wijkradar.example.nl/v1/alerts/12",
	    "msg_0123"};
	for (size_t i = 0; i < sizeof(in_text) / sizeof(in_text[0]); i++) {
		if (strstr(m.text, in_text[i]) == NULL)
			print_error("text lacks \"%s\":\n%s\n", in_text[i], m.text);
		assert_non_null(strstr(m.text, in_text[i]));
	}
	/* The HTML escapes what came from the database. */
	assert_non_null(strstr(m.html, "Oud-Oost &lt;&amp;&gt;"));
	assert_null(strstr(m.html, "Oud-Oost <&>"));
	assert_non_null(strstr(m.html, "<a href=\"https://wijkradar.example.nl/v1/alerts/12\">"));
	assert_non_null(strstr(m.html, "<html lang=\"nl\">"));
	mail_message_free(&m);
}

static void test_mail_for_a_state_change_and_no_initiatives(void **state)
{
	static const char body[] =
	    "{\"type\": \"alert.state_changed\", \"data\": {\"alert\": {\"area_code\": "
	    "\"WK008020\", \"theme\": \"GELD\", \"state\": \"closed\", \"initiatives\": []},"
	    " \"event\": {\"kind\": \"state\", \"from\": \"acknowledged\", \"to\": \"closed\","
	    " \"actor\": \"token 3 (teamlead)\", \"note\": \"schuldcafé loopt\"},"
	    " \"links\": {\"alert\": \"/v1/alerts/3\"}}}";
	struct mail_message m;
	assert_int_equal(mail_render(body, "msg_1", &m), 0);
	/* Without area name and theme label the codes stand in. */
	assert_string_equal(m.subject, "[wijkradar] Signaal gesloten: GELD in WK008020");
	assert_non_null(strstr(m.text, "van gezien naar gesloten (token 3 (teamlead))"));
	assert_non_null(strstr(m.text, "Notitie: schuldcafé loopt"));
	assert_non_null(strstr(m.text, "Geen bekende initiatieven"));
	mail_message_free(&m);
	assert_int_equal(mail_render("{\"type\": 1}", "msg_1", &m), -EINVAL);
	assert_int_equal(mail_render("not json", "msg_1", &m), -EINVAL);
}

static void test_header_encoding(void **state)
{
	char *plain = mail_encode_header("Nieuw patroon: GELD in Oud-Oost");
	assert_string_equal(plain, "Nieuw patroon: GELD in Oud-Oost");
	free(plain);
	/* UTF-8 becomes encoded words of at most 75 characters that decode back to the text,
	 * never cut inside a character. */
	static const char text[] = "Patroon groeit: Eenzaamheid in Snakkerbuorren, Wyns en "
	                           "Mûnein, Jelsum én Koarnjum — café";
	char *enc = mail_encode_header(text);
	char decoded[400] = "";
	size_t used = 0;
	for (char *w = strtok(enc, " "); w != NULL; w = strtok(NULL, " ")) {
		size_t n = strlen(w);
		assert_true(n <= 75);
		assert_memory_equal(w, "=?UTF-8?B?", 10);
		assert_string_equal(w + n - 2, "?=");
		unsigned char part[100];
		int len = EVP_DecodeBlock(part, (const unsigned char *)w + 10, (int)(n - 12));
		len -= (w[n - 3] == '=') + (w[n - 4] == '=');
		assert_true(len > 0);
		assert_true((part[0] & 0xc0) != 0x80);
		memcpy(decoded + used, part, (size_t)len);
		used += (size_t)len;
	}
	decoded[used] = '\0';
	assert_string_equal(decoded, text);
	free(enc);
	/* Line breaks can never reach the header. */
	enc = mail_encode_header("a\r\nBcc: x@example.nl");
	assert_null(strchr(enc, '\r'));
	assert_null(strchr(enc, '\n'));
	free(enc);
}

/* --- subscriptions ------------------------------------------------------------------------- */

static int parse(const char *text, bool allow_http, bool email, struct subscription_req *req,
                 struct err *e)
{
	json_t *o = json_loads(text, 0, NULL);
	struct subscription_rules rules = {allow_http, email};
	err_clear(e);
	int r = subscription_parse(o, &rules, req, e);
	json_decref(o);
	return r;
}

static void test_subscription_good(void **state)
{
	struct subscription_req req;
	struct err e;
	assert_int_equal(parse("{\"channel\": \"webhook\", \"url\": \"https://hooks.example.nl/a\","
	                       " \"areas\": [\"WK008020\"], \"themes\": [\"EENZAAM\", \"GELD\"],"
	                       " \"events\": [\"alert.raised\"], \"description\": \"dashboard\"}",
	                       false, false, &req, &e),
	                 0);
	assert_string_equal(req.channel, "webhook");
	assert_string_equal(req.target, "https://hooks.example.nl/a");
	assert_memory_equal(req.secret, "whsec_", 6);
	assert_string_equal(req.areas, "{\"WK008020\"}");
	assert_string_equal(req.themes, "{\"EENZAAM\",\"GELD\"}");
	assert_string_equal(req.events, "{\"alert.raised\"}");
	assert_true(req.has_description);
	assert_int_equal(parse("{\"channel\": \"email\", \"email\": \"team.noord@welzijn.nl\"}",
	                       false, true, &req, &e),
	                 0);
	assert_string_equal(req.secret, "");
	assert_string_equal(req.areas, "{}");
	assert_string_equal(req.events, "{alert.raised,alert.escalated,alert.state_changed}");
	assert_int_equal(parse("{\"channel\": \"webhook\", \"url\": \"http://10.0.0.5:8080/x\"}",
	                       true, false, &req, &e),
	                 0);
}

static void test_subscription_bad(void **state)
{
	static const struct {
		const char *json;
		int status;
		const char *says;
	} cases[] = {
	    {"[]", 400, "JSON object"},
	    {"{\"channel\": \"webhook\", \"url\": \"https://a.nl\", \"x\": 1}", 400, "\"x\""},
	    {"{\"channel\": \"sms\", \"url\": \"https://a.nl\"}", 422, "channel"},
	    {"{\"channel\": 1}", 400, "string"},
	    {"{\"channel\": \"webhook\"}", 422, "\"url\""},
	    {"{\"channel\": \"webhook\", \"url\": \"http://a.nl/x\"}", 422, "https://"},
	    {"{\"channel\": \"webhook\", \"url\": \"ftp://a.nl/x\"}", 422, "https://"},
	    {"{\"channel\": \"webhook\", \"url\": \"https://u:p@a.nl/x\"}", 422, "password"},
	    {"{\"channel\": \"webhook\", \"url\": \"https://a.nl/x y\"}", 422, "space"},
	    {"{\"channel\": \"webhook\", \"url\": \"https://\"}", 422, "valid URL"},
	    {"{\"channel\": \"webhook\", \"url\": \"https://a.nl\", \"email\": \"a@b.nl\"}", 422,
	     "no \"email\""},
	    {"{\"channel\": \"email\", \"email\": \"not-an-address\"}", 422, "e-mail address"},
	    {"{\"channel\": \"email\", \"email\": \"a@b.nl\\r\\nBcc: c@d.nl\"}", 422,
	     "e-mail address"},
	    {"{\"channel\": \"email\", \"email\": \"Team <a@b.nl>\"}", 422, "e-mail address"},
	    {"{\"channel\": \"webhook\", \"url\": \"https://a.nl\", \"areas\": [\"Oud-Oost\"]}",
	     422, "areas"},
	    {"{\"channel\": \"webhook\", \"url\": \"https://a.nl\", \"areas\": \"WK008020\"}", 400,
	     "array"},
	    {"{\"channel\": \"webhook\", \"url\": \"https://a.nl\", \"themes\": [\"eenzaam\"]}",
	     422, "themes"},
	    {"{\"channel\": \"webhook\", \"url\": \"https://a.nl\", \"events\": []}", 422,
	     "at least one"},
	    {"{\"channel\": \"webhook\", \"url\": \"https://a.nl\", \"events\": "
	     "[\"alert.closed\"]}",
	     422, "alert.raised"},
	    {"{\"channel\": \"webhook\", \"url\": \"https://a.nl\", \"description\": "
	     "\"bel 0612345678\"}",
	     422, "description"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct subscription_req req;
		struct err e;
		int r = parse(cases[i].json, false, true, &req, &e);
		if (r != -EINVAL || e.http_status != cases[i].status ||
		    strstr(e.msg, cases[i].says) == NULL)
			print_error("case %zu (%s): r=%d status=%d msg=%s\n", i, cases[i].json, r,
			            e.http_status, e.msg);
		assert_int_equal(r, -EINVAL);
		assert_int_equal(e.http_status, cases[i].status);
		assert_non_null(strstr(e.msg, cases[i].says));
	}
	/* E-mail subscriptions need an SMTP server. */
	struct subscription_req req;
	struct err e;
	assert_int_equal(
	    parse("{\"channel\": \"email\", \"email\": \"a@b.nl\"}", false, false, &req, &e),
	    -EINVAL);
	assert_non_null(strstr(e.msg, "smtp.url"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sign_matches_the_published_vector),
	    cmocka_unit_test(test_sign_refuses_malformed_secrets),
	    cmocka_unit_test(test_new_secrets_are_random_32_bytes),
	    cmocka_unit_test(test_http_outcomes),
	    cmocka_unit_test(test_smtp_outcomes),
	    cmocka_unit_test(test_delay_doubles_with_jitter_and_cap),
	    cmocka_unit_test(test_mail_in_dutch_with_the_evidence),
	    cmocka_unit_test(test_mail_for_a_state_change_and_no_initiatives),
	    cmocka_unit_test(test_header_encoding),
	    cmocka_unit_test(test_subscription_good),
	    cmocka_unit_test(test_subscription_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
