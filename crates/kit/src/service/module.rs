//! The module graph as a table: modules with their dependencies and one init function each,
//! plus target aliases such as `all` or `write`.

use std::sync::Arc;

use super::{Service, ServiceError};

/// The init function of a module: builds its part of the context `C` and maybe a service.
pub type InitFn<C, E> = fn(&mut C) -> Result<Option<Arc<dyn Service>>, E>;

/// One row of the table.
pub struct Module<C, E> {
    pub name: &'static str,
    pub deps: &'static [&'static str],
    pub init: InitFn<C, E>,
}

/// Modules plus aliases (`all`, `write`, `read`, `backend` → lists of modules).
pub struct ModuleTable<C, E> {
    modules: Vec<Module<C, E>>,
    aliases: Vec<(&'static str, &'static [&'static str])>,
}

#[derive(Clone, Copy, PartialEq)]
enum Mark {
    Unvisited,
    Visiting,
    Done,
}

impl<C, E> ModuleTable<C, E> {
    pub fn new(
        modules: Vec<Module<C, E>>,
        aliases: Vec<(&'static str, &'static [&'static str])>,
    ) -> Self {
        ModuleTable { modules, aliases }
    }

    pub fn module(&self, name: &str) -> Option<&Module<C, E>> {
        self.modules.iter().find(|m| m.name == name)
    }

    /// The modules needed for `targets` (aliases expanded) and their transitive dependencies,
    /// each after its dependencies. Order is stable: targets and deps in declaration order.
    pub fn resolve(&self, targets: &[&str]) -> Result<Vec<&'static str>, ServiceError> {
        let mut marks = vec![Mark::Unvisited; self.modules.len()];
        let mut order = Vec::new();
        let mut stack = Vec::new();
        for target in targets {
            for index in self.expand(target)? {
                self.visit(index, &mut marks, &mut stack, &mut order)?;
            }
        }
        Ok(order)
    }

    /// Resolves `targets` and runs each module's init in order, collecting the services.
    pub fn init(&self, targets: &[&str], ctx: &mut C) -> Result<Vec<Arc<dyn Service>>, E>
    where
        E: From<ServiceError>,
    {
        let mut services = Vec::new();
        for name in self.resolve(targets)? {
            let module = self
                .module(name)
                .ok_or_else(|| ServiceError::UnknownTarget(name.to_string()))?;
            tracing::debug!(module = name, "initialising module");
            services.extend((module.init)(ctx)?);
        }
        Ok(services)
    }

    fn expand(&self, target: &str) -> Result<Vec<usize>, ServiceError> {
        let names: &[&str] = match self.aliases.iter().find(|(alias, _)| *alias == target) {
            Some((_, names)) => names,
            None => std::slice::from_ref(&target),
        };
        names
            .iter()
            .map(|name| {
                self.index(name)
                    .ok_or_else(|| ServiceError::UnknownTarget(name.to_string()))
            })
            .collect()
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.modules.iter().position(|m| m.name == name)
    }

    fn visit(
        &self,
        index: usize,
        marks: &mut [Mark],
        stack: &mut Vec<&'static str>,
        order: &mut Vec<&'static str>,
    ) -> Result<(), ServiceError> {
        let module = &self.modules[index];
        match marks[index] {
            Mark::Done => return Ok(()),
            Mark::Visiting => {
                let start = stack.iter().position(|n| *n == module.name).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(module.name);
                return Err(ServiceError::Cycle(cycle));
            }
            Mark::Unvisited => {}
        }
        marks[index] = Mark::Visiting;
        stack.push(module.name);
        for dep in module.deps {
            let dep_index = self.index(dep).ok_or(ServiceError::UnknownDependency {
                module: module.name,
                dep,
            })?;
            self.visit(dep_index, marks, stack, order)?;
        }
        stack.pop();
        marks[index] = Mark::Done;
        order.push(module.name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Ctx = Vec<&'static str>;
    type Table = ModuleTable<Ctx, ServiceError>;

    fn row(name: &'static str, deps: &'static [&'static str]) -> Module<Ctx, ServiceError> {
        Module {
            name,
            deps,
            init: |_| Ok(None),
        }
    }

    fn table() -> Table {
        ModuleTable::new(
            vec![
                row("server", &[]),
                row("memberlist", &["server"]),
                row("ring", &["memberlist"]),
                row("overrides", &[]),
                row("distributor", &["ring", "overrides"]),
                row("ingester", &["ring", "overrides"]),
                row("querier", &["ring"]),
            ],
            vec![
                ("all", &["distributor", "ingester", "querier"]),
                ("write", &["distributor", "ingester"]),
            ],
        )
    }

    #[test]
    fn resolves_in_dependency_order() {
        let cases: &[(&[&str], &[&str])] = &[
            (&["server"], &["server"]),
            (
                &["distributor"],
                &["server", "memberlist", "ring", "overrides", "distributor"],
            ),
            (
                &["write"],
                &[
                    "server",
                    "memberlist",
                    "ring",
                    "overrides",
                    "distributor",
                    "ingester",
                ],
            ),
            (
                &["all"],
                &[
                    "server",
                    "memberlist",
                    "ring",
                    "overrides",
                    "distributor",
                    "ingester",
                    "querier",
                ],
            ),
            (
                &["querier", "ingester"],
                &[
                    "server",
                    "memberlist",
                    "ring",
                    "querier",
                    "overrides",
                    "ingester",
                ],
            ),
        ];
        for (targets, want) in cases {
            assert_eq!(table().resolve(targets).unwrap(), *want, "{targets:?}");
        }
    }

    #[test]
    fn order_respects_every_edge() {
        let t = table();
        let order = t.resolve(&["all"]).unwrap();
        for name in &order {
            let pos = order.iter().position(|n| n == name).unwrap();
            for dep in t.module(name).unwrap().deps {
                assert!(
                    order.iter().position(|n| n == dep).unwrap() < pos,
                    "{dep} before {name}"
                );
            }
        }
    }

    #[test]
    fn errors() {
        assert!(
            matches!(table().resolve(&["nope"]), Err(ServiceError::UnknownTarget(t)) if t == "nope")
        );
        let cyclic: Table = ModuleTable::new(
            vec![row("a", &["b"]), row("b", &["c"]), row("c", &["a"])],
            vec![],
        );
        let err = cyclic.resolve(&["a"]).unwrap_err();
        assert_eq!(err.to_string(), "dependency cycle: a -> b -> c -> a");
        let dangling: Table = ModuleTable::new(vec![row("a", &["ghost"])], vec![]);
        assert!(matches!(
            dangling.resolve(&["a"]),
            Err(ServiceError::UnknownDependency { .. })
        ));
    }

    #[test]
    fn init_runs_in_order() {
        let t: Table = ModuleTable::new(
            vec![
                Module {
                    name: "a",
                    deps: &[],
                    init: |ctx| {
                        ctx.push("a");
                        Ok(None)
                    },
                },
                Module {
                    name: "b",
                    deps: &["a"],
                    init: |ctx| {
                        ctx.push("b");
                        Ok(None)
                    },
                },
            ],
            vec![],
        );
        let mut ctx = Vec::new();
        let services = t.init(&["b"], &mut ctx).unwrap();
        assert!(services.is_empty());
        assert_eq!(ctx, ["a", "b"]);
    }
}
