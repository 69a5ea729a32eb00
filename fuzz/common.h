
/*
 * Copyright (C) The ngx_http_oneid_module authors
 *
 * Shared pieces of the libFuzzer harnesses: just enough nginx (a pool, a
 * log, a request with request headers) to call the module's parsers the
 * way the access handler does.
 */


#ifndef _NGX_HTTP_ONEID_FUZZ_COMMON_H_INCLUDED_
#define _NGX_HTTP_ONEID_FUZZ_COMMON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <stdio.h>
#include <stdlib.h>

#include "ngx_http_oneid_module.h"
#include "ngx_http_oneid_cookie.h"
#include "ngx_http_oneid_crypto.h"
#include "ngx_http_oneid_headers.h"
#include "ngx_http_oneid_page.h"
#include "ngx_http_oneid_session.h"


/* a broken property is a crash: libFuzzer saves the input */

#define fuzz_assert(cond, what)                                               \
    if (!(cond)) {                                                            \
        fuzz_fail(__FILE__, __LINE__, #cond, what);                           \
    }


typedef struct {
    ngx_pool_t          *pool;
    ngx_connection_t    *connection;
    ngx_http_request_t  *request;
} fuzz_env_t;


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

void fuzz_init(void);
void fuzz_fail(const char *file, int line, const char *cond,
    const char *what);

/* a fresh pool, connection and request for one input; fuzz_done frees all */
void fuzz_start(fuzz_env_t *env);
void fuzz_done(fuzz_env_t *env);

/* log lines must stay one line: CR and LF in a message fail the input */
void fuzz_log_check_lines(ngx_uint_t on);

/* a copy in a buffer of its own, so that ASan sees any overread */
u_char *fuzz_dup(ngx_pool_t *pool, const u_char *data, size_t len);

/* the next '\n'-terminated piece of [*pos, last) */
ngx_int_t fuzz_next_line(u_char **pos, u_char *last, ngx_str_t *line);

/* a request header as nginx's parser leaves it: lowcase_key, hash, index */
ngx_table_elt_t *fuzz_add_header(ngx_http_request_t *r, ngx_str_t *key,
    ngx_str_t *value);

/* the request headers in list order; *n is their number */
ngx_table_elt_t **fuzz_headers(ngx_http_request_t *r, ngx_uint_t *n);

/* the Cookie index (r->headers_in.cookies) is the Cookie headers in order */
void fuzz_check_cookie_index(ngx_http_request_t *r);

/*
 * The reference reading of a Cookie header: pairs separated by ";", each
 * without the spaces, tabs and ";" before it; a cookie's value is what
 * follows "name=" in its first pair, without trailing spaces and tabs.
 */
ngx_str_t *fuzz_cookie_pairs(ngx_pool_t *pool, ngx_str_t *header,
    ngx_uint_t *n);
ngx_int_t fuzz_pair_is(ngx_str_t *pair, ngx_str_t *name);
ngx_int_t fuzz_ref_cookie(ngx_pool_t *pool, ngx_str_t *header,
    ngx_str_t *name, ngx_str_t *value);

ngx_int_t fuzz_str_eq(ngx_str_t *a, ngx_str_t *b);
ngx_int_t fuzz_has_byte(ngx_str_t *s, u_char c);
ngx_int_t fuzz_is_utf8(ngx_str_t *s);


#endif /* _NGX_HTTP_ONEID_FUZZ_COMMON_H_INCLUDED_ */
