//! The TypeScript front end: parse with swc, lower decorators, strip types, print JavaScript.
//!
//! Syntax errors come back with file, line, column and the source line, the way compilers
//! report them.

use std::fmt;

use swc_core::common::sync::Lrc;
use swc_core::common::{FileName, GLOBALS, Globals, Mark, SourceMap, Spanned};
use swc_core::ecma::ast::{EsVersion, Pass, Program};
use swc_core::ecma::codegen::text_writer::JsWriter;
use swc_core::ecma::codegen::{Config, Emitter};
use swc_core::ecma::parser::{Parser, StringInput, Syntax, TsSyntax};
use swc_core::ecma::transforms::base::helpers::{HELPERS, Helpers, inject_helpers};
use swc_core::ecma::transforms::base::{fixer::fixer, hygiene::hygiene, resolver};
use swc_core::ecma::transforms::proposal::decorators;
use swc_core::ecma::transforms::typescript::strip;

/// A syntax error, located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub source_line: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}:{}:{}: syntax error: {}",
            self.file, self.line, self.column, self.message
        )?;
        writeln!(f, "  {:>4} | {}", self.line, self.source_line)?;
        write!(f, "       | {}^", " ".repeat(self.column.saturating_sub(1)))
    }
}

impl std::error::Error for SyntaxError {}

/// TypeScript source → JavaScript (an ES module), decorators lowered with TypeScript's
/// (`experimentalDecorators`) semantics, types gone.
pub fn transpile(file: &str, source: &str) -> Result<String, SyntaxError> {
    let map: Lrc<SourceMap> = Default::default();
    let input = map.new_source_file(FileName::Custom(file.to_owned()).into(), source.to_owned());
    let syntax = Syntax::Typescript(TsSyntax {
        decorators: true,
        ..Default::default()
    });
    let mut parser = Parser::new(syntax, StringInput::from(&*input), None);
    let located = |span: swc_core::common::Span, message: String| {
        let position = map.lookup_char_pos(span.lo);
        let source_line = source
            .lines()
            .nth(position.line.saturating_sub(1))
            .unwrap_or_default()
            .to_owned();
        SyntaxError {
            file: file.to_owned(),
            line: position.line,
            column: position.col_display + 1,
            message,
            source_line,
        }
    };
    let module = parser
        .parse_module()
        .map_err(|e| located(e.span(), e.kind().msg().into_owned()))?;
    if let Some(error) = parser.take_errors().into_iter().next() {
        return Err(located(error.span(), error.kind().msg().into_owned()));
    }

    let mut output = Vec::new();
    GLOBALS
        .set(&Globals::new(), || {
            HELPERS.set(&Helpers::new(false), || {
                let unresolved = Mark::new();
                let top_level = Mark::new();
                let mut program = Program::Module(module);
                // Decorators must be lowered before the types they may read are stripped.
                (
                    resolver(unresolved, top_level, true),
                    decorators::decorators(decorators::Config {
                        legacy: true,
                        emit_metadata: false,
                        use_define_for_class_fields: false,
                    }),
                    strip(unresolved, top_level),
                    inject_helpers(unresolved),
                    hygiene(),
                    fixer(None),
                )
                    .process(&mut program);
                let mut emitter = Emitter {
                    cfg: Config::default().with_target(EsVersion::Es2022),
                    cm: map.clone(),
                    comments: None,
                    wr: JsWriter::new(map.clone(), "\n", &mut output, None),
                };
                emitter.emit_program(&program)
            })
        })
        .map_err(|e| {
            located(
                Default::default(),
                format!("cannot print the JavaScript: {e}"),
            )
        })?;
    Ok(String::from_utf8_lossy(&output).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_decorators_go_and_the_code_stays() {
        let js = transpile(
            "app.ts",
            r#"
            function Logic(target: any) { target.isLogic = true; }
            interface Entry { key: string }
            type Key = string;
            @Logic
            export class Store {
                private count: number = 0;
                set(key: Key, value: string): void { this.count += key.length + value.length; }
            }
            "#,
        )
        .unwrap();
        assert!(
            !js.contains("interface") && !js.contains(": string") && !js.contains("type Key"),
            "{js}"
        );
        assert!(js.contains("class Store") && js.contains("isLogic"), "{js}");
        assert!(!js.contains("@Logic"), "decorators are lowered: {js}");
    }

    #[test]
    fn syntax_errors_point_at_the_line_and_column() {
        let error = transpile("src/index.ts", "const a = 1;\nconst b: number = ;\n").unwrap_err();
        assert_eq!((error.file.as_str(), error.line), ("src/index.ts", 2));
        assert_eq!(error.source_line, "const b: number = ;");
        assert!(error.column >= 18, "{error:?}");
        let shown = error.to_string();
        assert!(shown.starts_with("src/index.ts:2:"), "{shown}");
        assert!(shown.contains("|") && shown.contains("^"), "{shown}");
    }
}
