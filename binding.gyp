{
  "targets": [
    {
      # pid 1 of every sandbox: static, so it runs in any rootfs (even one without a libc),
      # and embedded in the addon (csrc/init_blob.cc). Linked with no C library but its own
      # (csrc/init/libc.cc: glibc's start-up costs 0.34 ms of cpuid traps on a VM); gcc must not
      # turn libc.cc's loops into calls to memset/memcpy themselves, nor add stack-protector or
      # _FORTIFY_SOURCE calls (__stack_chk_fail, __snprintf_chk: Ubuntu's gcc adds both by default).
      "target_name": "sandbox-init",
      "type": "executable",
      "sources": [
        "csrc/init/main.cc",
        "csrc/init/plan.cc",
        "csrc/init/report.cc",
        "csrc/init/setup.cc",
        "csrc/init/paths.cc",
        "csrc/init/mounts.cc",
        "csrc/init/command.cc",
        "csrc/init/run.cc",
        "csrc/init/serve.cc",
        "csrc/init/libc.cc",
        "csrc/loopback.cc"
      ],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-fno-exceptions", "-fno-rtti", "-fno-asynchronous-unwind-tables",
                     "-fno-stack-protector", "-fno-tree-loop-distribute-patterns",
                     "-U_FORTIFY_SOURCE", "-D_FORTIFY_SOURCE=0"],
      "ldflags": ["-static", "-nostdlib", "-s"],
      "libraries": ["-lgcc"]
    },
    {
      # The `sandbox` command's first stage (csrc/client/client.c): hands runs to the user's
      # resident server, else starts the Node CLI. Static, so it starts without the dynamic
      # loader and runs wherever the prebuilt addon does.
      "target_name": "sandbox-client",
      "type": "executable",
      "sources": ["csrc/client/client.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra"],
      "ldflags": ["-static", "-s"]
    },
    {
      "target_name": "sandbox",
      "dependencies": ["sandbox-init"],
      "sources": [
        "csrc/addon.cc",
        "csrc/capture.cc",
        "csrc/fd_watch.cc",
        "csrc/cgroupfs.cc",
        "csrc/layerfs.cc",
        "csrc/lane.cc",
        "csrc/exit_report.cc",
        "csrc/run.cc",
        "csrc/plan.cc",
        "csrc/spawn.cc",
        "csrc/netns.cc",
        "csrc/loopback.cc",
        "csrc/clone3.cc",
        "csrc/overlay_probe.cc",
        "csrc/init_blob.cc",
        "csrc/unix_request.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      # NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS: a node-addon-api call that fails while the
      # environment is ending (a worker being terminated runs its loop once more, where JS may no
      # longer run) is dropped instead of becoming a fatal napi_throw that aborts the process.
      "defines": [
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "NAPI_VERSION=8"
      ],
      # init_blob.cc's .incbin finds sandbox-init through the assembler's include path.
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2", "-Wa,-I<(PRODUCT_DIR)"]
    }
  ]
}
