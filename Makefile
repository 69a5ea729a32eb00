# ngx_http_oneid_module
#
#   make demo    build, install what is missing, start the demo on :8080
#   make test    build, install what is missing, run the t/ suite, then
#                make deb test-deb (TEST_DEB=no: not those)
#   make test-valgrind   the same suite with nginx under valgrind memcheck
#   make coverage        the same suite with a gcov build of the module
#                (build-coverage/), then line and branch coverage per file
#   make test-browser    the pages in a real browser (Debian's chromium)
#   make test-upstream TEST_NGINX_LIB=/path/to/test-nginx/lib
#                the block-format files under upstream Test::Nginx
#   make build   just the module: build/ngx_http_oneid_module.so
#   make fuzz    libFuzzer + ASan/UBSan on the parsers (FUZZ_TIME=30 s each)
#   make deb     the Debian package, built with debhelper and dh_nginx:
#                build/deb/libnginx-mod-http-oneid_<version>_<arch>.deb
#   make test-deb   lintian, then install it with apt-get, serve a request
#                through it with the system nginx binary, remove and purge
#   make promtool  Prometheus's promtool in build/ (for t/280-metrics.t)
#
# Builds against Debian's nginx-dev sources by default, with the flags of
# /usr/sbin/nginx; for upstream sources: make build NGINX_SRC=/path/nginx-1.x

SHELL := /bin/bash

NGINX_SRC ?= /usr/share/nginx/src
NGINX_BIN ?= /usr/sbin/nginx
# used only when NGINX_SRC has no Debian conf_flags file
NGINX_CONFIGURE_FLAGS ?= --with-compat --with-http_ssl_module

BUILD  := $(CURDIR)/build
MODULE := $(BUILD)/ngx_http_oneid_module.so
COV_BUILD  := $(CURDIR)/build-coverage
COV_MODULE := $(COV_BUILD)/ngx_http_oneid_module.so
SOURCES := config $(wildcard ngx_http_oneid_module/*.[ch])

DEBS := nginx nginx-dev wrk libhiredis-dev libjansson-dev libssl-dev \
        redis-server redis-sentinel redis-tools python3 openssl curl \
        libtest-base-perl libio-socket-ssl-perl libnginx-mod-stream \
        libcryptx-perl
VALGRIND_DEBS := valgrind
COVERAGE_DEBS := gcovr
# Debian's chromium, driven by t/browser's pinned playwright-core; fonts
# with Cyrillic and U+2018 for the screenshots.  Node >= 20 with npm is
# not among them: Debian 12's nodejs is 18, too old for playwright-core.
BROWSER_DEBS := chromium fonts-dejavu-core
# make deb: Build-Depends of debian/control and dpkg-buildpackage's tools;
# make test-deb: lintian and what the test serves with
DEB_DEBS := debhelper dpkg-dev fakeroot nginx-dev libhiredis-dev \
            libjansson-dev libssl-dev
DEB_TEST_DEBS := lintian redis-server curl

export TEST_NGINX_BINARY       ?= $(NGINX_BIN)
export TEST_NGINX_LOAD_MODULES ?= $(MODULE)
export TEST_NGINX_REDIS_PORT   ?= 16379
export TEST_NGINX_ONEID_PORT   ?= 18443
export TEST_NGINX_ONEID_CA     ?= $(BUILD)/test-ca/ca.crt
export TEST_NGINX_BACKEND_PORT ?= 18081
export TEST_NGINX_PORT         ?= 1984

# t/280-metrics.t checks the oneid_metrics page with it
PROMTOOL := $(BUILD)/promtool/usr/bin/promtool
export TEST_PROMTOOL ?= $(PROMTOOL)

.PHONY: all build deps test test-valgrind test-browser test-upstream coverage \
        demo demo-stop services-start services-stop bench clean deb test-deb \
        promtool

all: build

build: $(MODULE)

deps:
	@missing=$$(for p in $(DEBS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	        | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing:" $$missing; \
	    apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	        --no-install-recommends $$missing >/dev/null; \
	fi

# $(call configure_nginx,<build dir>,<more configure arguments>): a copy of
# the nginx sources configured with the flags of the installed nginx (so the
# module's binary signature matches it) and this module
define configure_nginx
	rm -rf $(1)/nginx
	mkdir -p $(1)
	cp -r $(NGINX_SRC) $(1)/nginx
	cd $(1)/nginx && \
	if [ -f conf_flags ]; then \
	    . ./conf_flags; \
	else \
	    NGX_CONF_FLAGS=($(NGINX_CONFIGURE_FLAGS)); \
	fi; \
	./configure "$${NGX_CONF_FLAGS[@]}" $(2) \
	    --add-dynamic-module=$(CURDIR) \
	    > $(1)/configure.log || { cat $(1)/configure.log; exit 1; }
endef

# $(call link_module,<build dir>): a new inode for the .so, because running
# nginx processes keep the old file mapped
define link_module
	$(MAKE) -s -C $(1)/nginx -f objs/Makefile modules
	cp $(1)/nginx/objs/ngx_http_oneid_module.so $(1)/ngx_http_oneid_module.so.tmp
	mv -f $(1)/ngx_http_oneid_module.so.tmp $(1)/ngx_http_oneid_module.so
endef

$(BUILD)/nginx/objs/Makefile: config
	$(call configure_nginx,$(BUILD))

$(MODULE): $(BUILD)/nginx/objs/Makefile $(SOURCES)
	$(call link_module,$(BUILD))

services-start:
	@t/services.sh start

services-stop:
	@t/services.sh stop

# make test T=t/050-essentials.t runs one file.  The whole suite then
# builds and tests the Debian package too (make deb test-deb: it installs
# and purges libnginx-mod-http-oneid on this machine); TEST_DEB=no skips it.
T ?= t
TEST_DEB ?= $(if $(filter t t/,$(T)),yes,no)

test: deps build promtool-maybe
	@t/services.sh start; \
	prove -I t/lib -r $(T); rc=$$?; \
	t/services.sh stop; \
	if [ "$(TEST_DEB)" = yes ]; then \
	    $(MAKE) -s deb test-deb || rc=1; \
	fi; \
	exit $$rc

# promtool alone, out of Debian's prometheus package, whose installation
# would start a server: apt-get download and dpkg-deb -x, kept in build/.
# make test tries it and goes on without (the test then skips that check,
# unless CI=true).
promtool: $(PROMTOOL)

$(PROMTOOL):
	rm -rf $(BUILD)/promtool
	mkdir -p $(BUILD)/promtool
	cd $(BUILD)/promtool && apt-get download prometheus && \
	dpkg-deb -x prometheus_*.deb . && rm -f prometheus_*.deb \
	    usr/bin/prometheus
	test -x $@

.PHONY: promtool-maybe
promtool-maybe:
	@[ -x $(PROMTOOL) ] || $(MAKE) -s promtool \
	    || echo "promtool not fetched: t/280-metrics.t skips its check"

# Each nginx stop fails a test if memcheck saw an error or leak with a frame
# in the module; known leaks of nginx and its libraries: t/valgrind.supp.
# Slow (minutes).  make test-valgrind T=t/050-essentials.t runs one file;
# TEST_NGINX_VALGRIND_OPTS=--track-origins=yes adds valgrind options.
test-valgrind: DEBS += $(VALGRIND_DEBS)
test-valgrind: deps build
	@t/services.sh start; \
	TEST_NGINX_USE_VALGRIND=1 prove -I t/lib -r $(T); rc=$$?; \
	t/services.sh stop; \
	exit $$rc

# Line and branch coverage of the module by the whole suite: a second
# build with gcov instrumentation in build-coverage/ (build/ is untouched),
# the suite against it, then a table per source file from gcovr.  Counts
# are written when an nginx process exits normally; the harness stops nginx
# with QUIT, so every worker writes its share.  make coverage T=t/050-...t
# measures one file.  The HTML report: build-coverage/coverage.html.
$(COV_BUILD)/nginx/objs/Makefile: config
	$(call configure_nginx,$(COV_BUILD),--with-cc-opt='--coverage -O0' --with-ld-opt=--coverage)

$(COV_MODULE): $(COV_BUILD)/nginx/objs/Makefile $(SOURCES)
	$(call link_module,$(COV_BUILD))

coverage: DEBS += $(COVERAGE_DEBS)
coverage: deps $(COV_MODULE)
	@find $(COV_BUILD)/nginx/objs/addon -name '*.gcda' -delete; \
	t/services.sh start; \
	TEST_NGINX_LOAD_MODULES=$(COV_MODULE) prove -I t/lib -r $(T); rc=$$?; \
	t/services.sh stop; \
	gcovr -r $(CURDIR) -f '$(CURDIR)/ngx_http_oneid_module/' \
	    --exclude-unreachable-branches --json $(COV_BUILD)/coverage.json \
	    $(COV_BUILD)/nginx/objs/addon && \
	gcovr -r $(CURDIR) -a $(COV_BUILD)/coverage.json \
	    --html-details $(COV_BUILD)/coverage.html && \
	gcovr -r $(CURDIR) -a $(COV_BUILD)/coverage.json && \
	gcovr -r $(CURDIR) -a $(COV_BUILD)/coverage.json --branches || rc=1; \
	exit $$rc

# The module's pages in Debian's chromium, headless, driven by
# playwright-core (pinned in t/browser/package-lock.json; no browser is
# downloaded): login, logout from this site and from another, ssi.
# Screenshots and nginx's logs in build/browser/.  Not run by CI.
test-browser: DEBS += $(BROWSER_DEBS)
test-browser: deps build t/browser/node_modules/.package-lock.json
	@t/services.sh start; \
	node t/browser/run.js; rc=$$?; \
	t/services.sh stop; \
	exit $$rc

t/browser/node_modules/.package-lock.json: t/browser/package.json \
                                           t/browser/package-lock.json
	@node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' \
	    && command -v npm >/dev/null || { \
	    echo "make test-browser: needs Node.js >= 20 with npm" \
	         "(Debian 12's nodejs is 18; e.g. NodeSource's nodejs 20)" >&2; \
	    exit 2; }
	cd t/browser && npm ci --no-audit --no-fund

# The block-format files (those calling run_tests) under upstream
# Test::Nginx (openresty/test-nginx) instead of t/lib's harness, to show
# both read the blocks alike.  Upstream needs Debian's
# libtest-longstring-perl liblist-moreutils-perl libhttp-message-perl
# libipc-run-perl liburi-perl libtext-diff-perl.
TEST_NGINX_LIB ?=
UPSTREAM_T = $(shell grep -l '^run_tests' t/*.t)

test-upstream:
	@if [ -z "$(TEST_NGINX_LIB)" ]; then \
	    echo "make test-upstream: set TEST_NGINX_LIB to the lib/ directory" \
	         "of a checkout of openresty/test-nginx" >&2; exit 2; fi; \
	if [ ! -f "$(TEST_NGINX_LIB)/Test/Nginx/Socket.pm" ]; then \
	    echo "make test-upstream: $(TEST_NGINX_LIB)/Test/Nginx/Socket.pm" \
	         "not found: TEST_NGINX_LIB must be test-nginx's lib/ directory" >&2; \
	    exit 2; fi
	@$(MAKE) -s deps build
	@# upstream refuses a servroot with files it did not create
	@rm -rf t/servroot
	@t/services.sh start; \
	prove -I $(TEST_NGINX_LIB) $(UPSTREAM_T); rc=$$?; \
	t/services.sh stop; \
	exit $$rc

# The Debian package, built from a copy of the tree in build/deb/src (the
# worktree gets no debian/ build artefacts) with debian/changelog made from
# CHANGES; the .deb, .buildinfo and .changes land in build/deb/.  Only the
# binary package: the source package would be this whole tree.
DEB_DIR := $(BUILD)/deb
DEB_SRC := $(DEB_DIR)/src

deb: DEBS = $(DEB_DEBS)
deb: deps
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_SRC)
	tar -C $(CURDIR) -cf - --exclude=./.git --exclude=./build \
	    --exclude=./build-coverage --exclude='./t/servroot*' \
	    --exclude=./t/browser/node_modules . | tar -C $(DEB_SRC) -xf -
	debian/changelog-from-changes CHANGES debian/control \
	    ngx_http_oneid_module/ngx_http_oneid_module.h \
	    > $(DEB_SRC)/debian/changelog
	cd $(DEB_SRC) && dpkg-buildpackage -b -us -uc \
	    > $(DEB_DIR)/build.log 2>&1 || { tail -50 $(DEB_DIR)/build.log; exit 1; }
	rm -rf $(DEB_SRC)
	@ls -1 $(DEB_DIR)/*.deb

# Run as root, with the package built (make deb); installs and purges it.
test-deb: DEBS = $(DEB_TEST_DEBS)
test-deb: deps
	@t/deb/test-deb.sh $(DEB_DIR)

demo: deps build
	@conf-examples/demo/demo.sh start

demo-stop:
	@conf-examples/demo/demo.sh stop

bench: deps build
	bench/run.sh $(BENCH_ARGS)

clean:
	rm -rf $(BUILD) $(COV_BUILD) t/servroot

# make fuzz: libFuzzer harnesses with AddressSanitizer and UBSan for the
# module's parsers, FUZZ_TIME seconds each, then fuzz/regressions/
# (fuzz/README.md).  FUZZ_TARGETS="cookie idp" runs some only.
FUZZ_TIME ?= 30
FUZZ_DEBS := clang-14 libclang-rt-14-dev llvm-14 nginx-dev \
             libhiredis-dev libjansson-dev libssl-dev

.PHONY: fuzz

fuzz: DEBS = $(FUZZ_DEBS)
fuzz: deps
	@FUZZ_TIME=$(FUZZ_TIME) fuzz/run.sh
