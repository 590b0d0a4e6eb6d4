"""Activities: one module per domain, classes whose methods are `@activity.defn`."""
