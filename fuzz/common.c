
/*
 * Copyright (C) The ngx_http_oneid_module authors
 */


#include "common.h"


static void fuzz_log_writer(ngx_log_t *log, ngx_uint_t level, u_char *buf,
    size_t len);


/*
 * UBSan reports stop the run even without UBSAN_OPTIONS (it is built in
 * recover mode so that fuzz/ubsan.supp can apply); UBSAN_OPTIONS adds to
 * this
 */

const char *__ubsan_default_options(void);

const char *
__ubsan_default_options(void)
{
    return "halt_on_error=1:print_stacktrace=1"
           ":suppressions=" FUZZ_UBSAN_SUPP;
}


static ngx_open_file_t  fuzz_log_file;
static ngx_log_t        fuzz_log;
static ngx_uint_t       fuzz_check_lines;


void
fuzz_init(void)
{
    ngx_uint_t         n;

    static ngx_uint_t  done;

    if (done) {
        return;
    }

    done = 1;

    ngx_pagesize = getpagesize();
    for (n = ngx_pagesize; n >>= 1; ngx_pagesize_shift++) { /* void */ }
    ngx_cacheline_size = NGX_CPU_CACHE_LINE;

    /* nothing may reach the terminal but libFuzzer's own report */
    ngx_use_stderr = 0;

    if (ngx_strerror_init() != NGX_OK) {
        abort();
    }

    ngx_time_init();

    fuzz_log_file.fd = open("/dev/null", O_WRONLY);
    fuzz_log.file = &fuzz_log_file;
    fuzz_log.writer = fuzz_log_writer;

    /* debug messages are formatted too: their arguments get checked */
    fuzz_log.log_level = NGX_LOG_DEBUG | NGX_LOG_DEBUG_CORE
                         | NGX_LOG_DEBUG_HTTP;
}


void
fuzz_fail(const char *file, int line, const char *cond, const char *what)
{
    fprintf(stderr, "\n==ONEID-FUZZ== property violated at %s:%d: %s\n"
            "==ONEID-FUZZ== failed check: %s\n", file, line, what, cond);
    abort();
}


void
fuzz_log_check_lines(ngx_uint_t on)
{
    /* ONEID_FUZZ_LOG_LINES=0: look past a known log finding */

    fuzz_check_lines = on && !(getenv("ONEID_FUZZ_LOG_LINES")
                               && getenv("ONEID_FUZZ_LOG_LINES")[0] == '0');
}


static void
fuzz_log_writer(ngx_log_t *log, ngx_uint_t level, u_char *buf, size_t len)
{
    u_char  *p, *last;

    if (getenv("ONEID_FUZZ_LOG")) {
        fprintf(stderr, "%.*s", (int) len, buf);
    }

    if (!fuzz_check_lines) {
        return;
    }

    /* the last byte is the linefeed of ngx_log_error_core() */

    last = buf + len - 1;

    for (p = buf; p < last; p++) {
        if (*p == '\r' || *p == '\n') {
            fprintf(stderr, "log line: \"%.*s\"\n", (int) len, buf);
            fuzz_fail(__FILE__, __LINE__, "*p != CR && *p != LF",
                      "a log message spans several lines (log injection)");
        }
    }
}


void
fuzz_start(fuzz_env_t *env)
{
    ngx_pool_t          *pool;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    fuzz_init();

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, &fuzz_log);
    if (pool == NULL) {
        abort();
    }

    c = ngx_pcalloc(pool, sizeof(ngx_connection_t));
    r = ngx_pcalloc(pool, sizeof(ngx_http_request_t));
    if (c == NULL || r == NULL) {
        abort();
    }

    c->log = &fuzz_log;
    c->pool = pool;

    r->connection = c;
    r->main = r;
    r->pool = pool;

    /* small parts, so that lists of many headers have several parts */

    if (ngx_list_init(&r->headers_in.headers, pool, 2,
                      sizeof(ngx_table_elt_t))
        != NGX_OK
        || ngx_array_init(&r->headers_in.cookies, pool, 1,
                          sizeof(ngx_table_elt_t *))
           != NGX_OK)
    {
        abort();
    }

    env->pool = pool;
    env->connection = c;
    env->request = r;
}


void
fuzz_done(fuzz_env_t *env)
{
    ngx_destroy_pool(env->pool);
    env->pool = NULL;
}


u_char *
fuzz_dup(ngx_pool_t *pool, const u_char *data, size_t len)
{
    u_char  *p;

    /* NGX_DEBUG_PALLOC: every allocation is a malloc() of its own */

    p = ngx_pnalloc(pool, len ? len : 1);
    if (p == NULL) {
        abort();
    }

    ngx_memcpy(p, data, len);

    return p;
}


ngx_int_t
fuzz_next_line(u_char **pos, u_char *last, ngx_str_t *line)
{
    u_char  *p, *nl;

    p = *pos;

    if (p == NULL || p > last) {
        return NGX_DECLINED;
    }

    nl = ngx_strlchr(p, last, '\n');

    line->data = p;
    line->len = (nl ? nl : last) - p;

    *pos = nl ? nl + 1 : NULL;

    return NGX_OK;
}


ngx_table_elt_t *
fuzz_add_header(ngx_http_request_t *r, ngx_str_t *key, ngx_str_t *value)
{
    ngx_table_elt_t   *h, **ph;

    h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) {
        abort();
    }

    h->key.len = key->len;
    h->key.data = fuzz_dup(r->pool, key->data, key->len);
    h->value.len = value->len;
    h->value.data = fuzz_dup(r->pool, value->data, value->len);

    h->lowcase_key = ngx_pnalloc(r->pool, key->len ? key->len : 1);
    if (h->lowcase_key == NULL) {
        abort();
    }

    ngx_strlow(h->lowcase_key, key->data, key->len);
    h->hash = ngx_hash_key(h->lowcase_key, key->len);

#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    if (key->len == sizeof("cookie") - 1
        && ngx_strncmp(h->lowcase_key, "cookie", 6) == 0)
    {
        ph = ngx_array_push(&r->headers_in.cookies);
        if (ph == NULL) {
            abort();
        }

        *ph = h;
    }

    return h;
}


ngx_table_elt_t **
fuzz_headers(ngx_http_request_t *r, ngx_uint_t *n)
{
    ngx_uint_t         i, k;
    ngx_list_part_t   *part;
    ngx_table_elt_t   *h, **all;

    k = 0;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        k += part->nelts;
    }

    all = ngx_pnalloc(r->pool, (k + 1) * sizeof(ngx_table_elt_t *));
    if (all == NULL) {
        abort();
    }

    k = 0;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            all[k++] = &h[i];
        }
    }

    *n = k;

    return all;
}


void
fuzz_check_cookie_index(ngx_http_request_t *r)
{
    ngx_uint_t         i, j, n;
    ngx_table_elt_t  **all, **cookies;

    all = fuzz_headers(r, &n);
    cookies = r->headers_in.cookies.elts;
    j = 0;

    for (i = 0; i < n; i++) {
        if (all[i]->key.len != sizeof("Cookie") - 1
            || ngx_strncasecmp(all[i]->key.data, (u_char *) "Cookie", 6) != 0)
        {
            continue;
        }

        fuzz_assert(j < r->headers_in.cookies.nelts && cookies[j] == all[i],
                    "the Cookie index misses a Cookie header");
        j++;
    }

    fuzz_assert(j == r->headers_in.cookies.nelts,
                "the Cookie index has a header that is not in the list");
}


ngx_str_t *
fuzz_cookie_pairs(ngx_pool_t *pool, ngx_str_t *header, ngx_uint_t *n)
{
    u_char     *p, *end, *last;
    ngx_str_t  *pairs;

    pairs = ngx_pnalloc(pool, (header->len + 1) * sizeof(ngx_str_t));
    if (pairs == NULL) {
        abort();
    }

    *n = 0;
    p = header->data;
    last = header->data + header->len;

    for ( ;; ) {
        while (p < last && (*p == ' ' || *p == '\t' || *p == ';')) {
            p++;
        }

        if (p == last) {
            break;
        }

        for (end = p; end < last && *end != ';'; end++) { /* void */ }

        pairs[*n].data = p;
        pairs[*n].len = end - p;
        (*n)++;

        p = end;
    }

    return pairs;
}


ngx_int_t
fuzz_pair_is(ngx_str_t *pair, ngx_str_t *name)
{
    return pair->len > name->len
           && pair->data[name->len] == '='
           && (name->len == 0
               || ngx_memcmp(pair->data, name->data, name->len) == 0);
}


ngx_int_t
fuzz_ref_cookie(ngx_pool_t *pool, ngx_str_t *header, ngx_str_t *name,
    ngx_str_t *value)
{
    ngx_str_t   *pairs;
    ngx_uint_t   i, n;

    pairs = fuzz_cookie_pairs(pool, header, &n);

    for (i = 0; i < n; i++) {
        if (!fuzz_pair_is(&pairs[i], name)) {
            continue;
        }

        value->data = pairs[i].data + name->len + 1;
        value->len = pairs[i].len - name->len - 1;

        while (value->len && (value->data[value->len - 1] == ' '
                              || value->data[value->len - 1] == '\t'))
        {
            value->len--;
        }

        return 1;
    }

    return 0;
}


ngx_int_t
fuzz_str_eq(ngx_str_t *a, ngx_str_t *b)
{
    return a->len == b->len
           && (a->len == 0 || ngx_memcmp(a->data, b->data, a->len) == 0);
}


ngx_int_t
fuzz_has_byte(ngx_str_t *s, u_char c)
{
    return s->len && memchr(s->data, c, s->len) != NULL;
}


/* well-formed UTF-8: no overlong forms, surrogates or code points > 10FFFF */

ngx_int_t
fuzz_is_utf8(ngx_str_t *s)
{
    u_char    *p, *last;
    uint32_t   cp, min;
    size_t     n, i;

    if (s->len == 0) {
        return 1;
    }

    p = s->data;
    last = s->data + s->len;

    while (p < last) {
        if (*p < 0x80) {
            p++;
            continue;
        }

        if ((*p & 0xe0) == 0xc0) {
            n = 1; cp = *p & 0x1f; min = 0x80;

        } else if ((*p & 0xf0) == 0xe0) {
            n = 2; cp = *p & 0x0f; min = 0x800;

        } else if ((*p & 0xf8) == 0xf0) {
            n = 3; cp = *p & 0x07; min = 0x10000;

        } else {
            return 0;
        }

        if ((size_t) (last - p) <= n) {
            return 0;
        }

        for (i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80) {
                return 0;
            }

            cp = (cp << 6) | (p[i] & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return 0;
        }

        p += n + 1;
    }

    return 1;
}
