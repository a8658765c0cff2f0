# ngx_neonpro: build, run and test on Debian 12 as root.
#
#   make run    install what is missing, build, serve the demo on 127.0.0.1:8080
#   make test   the same set-up, then every test
#   make bench  the same set-up, then the side-by-side benchmarks

SHELL       := /bin/bash
PYTHON      := /usr/bin/python3
NGINX_SRC   := /usr/share/nginx/src
BUILD       := $(CURDIR)/build
NGINX_BUILD := $(BUILD)/nginx
MODULE      := $(NGINX_BUILD)/objs/ngx_neonpro_module.so

# Project files build with these on top of nginx's own flags.  nginx calls
# handlers through fixed signatures, so unused parameters are the norm.
CC_OPT      := -O2 -Wall -Wextra -Werror -Wno-unused-parameter

DEBIAN_PACKAGES := gcc make git curl ca-certificates \
	nginx-core nginx-dev libnginx-mod-http-lua \
	libpq-dev libjansson-dev libcurl4-openssl-dev libhiredis-dev \
	libssl-dev zlib1g-dev \
	python3-fastapi python3-uvicorn python3-pytest python3-httpx \
	python3-websockets python3-jwt python3-cryptography wrk linux-perf clang libclang-rt-14-dev chromium

SOURCES := $(wildcard *.c src/*.c src/*.h) config

.PHONY: all deps build run test unit fuzz bench clean demo-token

all: build

deps:
	@missing=""; \
	for p in $(DEBIAN_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null \
	        | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	        --no-install-recommends $$missing; \
	fi
	@# Node.js and npm as the machine has them; Debian's only when absent,
	@# since Debian's npm conflicts with a Node.js installed otherwise.
	@if ! command -v npm > /dev/null; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; \
	fi
	@if [ ! -d t/browser/node_modules/playwright-core ]; then \
	    cd t/browser && npm ci --no-audit --no-fund --loglevel=error; \
	fi

build: deps $(MODULE)

$(MODULE): $(SOURCES)
	@mkdir -p $(BUILD)
	@if [ ! -f $(NGINX_BUILD)/objs/Makefile ] \
	    || [ config -nt $(NGINX_BUILD)/objs/Makefile ]; then \
	    rm -rf $(NGINX_BUILD) && cp -a $(NGINX_SRC) $(NGINX_BUILD) && \
	    source $(NGINX_BUILD)/conf_flags && \
	    cd $(NGINX_BUILD) && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" \
	        --with-cc-opt="$(CC_OPT)" \
	        --add-dynamic-module=$(CURDIR) > $(BUILD)/configure.log \
	    || { tail -30 $(BUILD)/configure.log; exit 1; }; \
	fi
	$(MAKE) -C $(NGINX_BUILD) -f objs/Makefile modules

run: build
	@bash scripts/run-demo.sh

# A token that the demo accepts: a CLINICAL_STAFF user of clinic-1, signed
# with the demo key of conf.example/keys (never a deployment's key).
demo-token: deps
	@$(PYTHON) scripts/demo-token.py

# Pure C units without nginx: unit tests, then a short fuzzing run of each
# libFuzzer target (FUZZ_SECONDS each; raise it for a longer campaign).
unit: deps
	@$(MAKE) -C t/unit run

fuzz: deps
	@$(MAKE) -C fuzz run FUZZ_SECONDS=$(or $(FUZZ_SECONDS),10)

test: build unit fuzz
	$(PYTHON) -m pytest -p no:cacheprovider -q docker/agent t

bench: build
	@bash bench/run.sh

clean:
	rm -rf $(BUILD)
	@$(MAKE) -C t/unit clean
	@$(MAKE) -C fuzz clean
