"""Device evidence in the Linux sysfs layout, the policy engine and its daemon (issue 5; not built yet)."""
