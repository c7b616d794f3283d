//! The TypeScript front end: parse with swc, lower decorators, strip types, print JavaScript
//! with a line map, and turn ES imports and exports into the bundle's module calls.
//!
//! Syntax errors come back with file, line, column and the source line, the way compilers
//! report them.

use std::fmt;

use swc_core::common::DUMMY_SP;
use swc_core::common::sync::Lrc;
use swc_core::common::{FileName, GLOBALS, Globals, Mark, SourceMap, SourceMapper, Span, Spanned};
use swc_core::ecma::ast::{
    BindingIdent, CallExpr, Callee, ClassDecl, ClassExpr, Decl, DefaultDecl, EsVersion,
    ExportSpecifier, Expr, FnDecl, FnExpr, Ident, ImportSpecifier, Lit, Module as SwcModule,
    ModuleDecl, ModuleExportName, ModuleItem, Pass, Pat, Program, Stmt, Str, VarDecl, VarDeclKind,
    VarDeclarator,
};
use swc_core::ecma::ast::{MemberExpr, MemberProp};
use swc_core::ecma::codegen::text_writer::JsWriter;
use swc_core::ecma::codegen::{Config, Emitter};
use swc_core::ecma::parser::{Parser, StringInput, Syntax, TsSyntax};
use swc_core::ecma::transforms::base::helpers::{HELPERS, Helpers, inject_helpers};
use swc_core::ecma::transforms::base::{fixer::fixer, hygiene::hygiene, resolver};
use swc_core::ecma::transforms::proposal::decorators;
use swc_core::ecma::transforms::typescript::strip;
use swc_core::ecma::visit::{Visit, VisitMut, VisitMutWith, VisitWith};

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

/// A parsed TypeScript (or JavaScript) module and the map to locate its spans.
#[derive(Clone)]
pub struct Parsed {
    pub file: String,
    pub source: String,
    pub map: Lrc<SourceMap>,
    pub module: SwcModule,
}

impl Parsed {
    /// `file:line:column` of a span.
    pub fn locate(&self, span: Span) -> String {
        let position = self.map.lookup_char_pos(span.lo);
        format!(
            "{}:{}:{}",
            self.file,
            position.line,
            position.col_display + 1
        )
    }

    /// The source text of a span.
    pub fn text(&self, span: Span) -> String {
        self.map
            .span_to_snippet(span)
            .unwrap_or_else(|_| "?".into())
    }
}

/// Parses `source` (TypeScript with decorators, or plain JavaScript when `typescript` is false).
pub fn parse(file: &str, source: &str, typescript: bool) -> Result<Parsed, SyntaxError> {
    // swc's parser, speculating over `<` as type arguments, can take exponential time when
    // unterminated strings follow nested `<{` (found by fuzzing): refuse those first.
    if let Some(at) = unterminated_string(source) {
        let line_start = source[..at].rfind('\n').map_or(0, |i| i + 1);
        return Err(SyntaxError {
            file: file.to_owned(),
            line: source[..at].matches('\n').count() + 1,
            column: source[line_start..at].chars().count() + 1,
            message: "unterminated string literal: close it on the line it starts (write \\n \
                      for a line break, or use a `template literal`)"
                .into(),
            source_line: source[line_start..]
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
        });
    }
    let map: Lrc<SourceMap> = Default::default();
    let input = map.new_source_file(FileName::Custom(file.to_owned()).into(), source.to_owned());
    let syntax = if typescript {
        Syntax::Typescript(TsSyntax {
            decorators: true,
            ..Default::default()
        })
    } else {
        Syntax::Es(Default::default())
    };
    let mut parser = Parser::new(syntax, StringInput::from(&*input), None);
    let located = |span: Span, message: String| {
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
    Ok(Parsed {
        file: file.to_owned(),
        source: source.to_owned(),
        map,
        module,
    })
}

/// The byte offset of the first `'` or `"` string literal that reaches the end of its line (or
/// of the file) unclosed, outside comments, template text and regular expressions; such a
/// source never parses. A `/` starts a regular expression unless it follows what ends an
/// operand (a name, a number, `)`, `]`), the usual rule of thumb.
pub fn unterminated_string(source: &str) -> Option<usize> {
    let bytes = source.as_bytes();
    let at = |i: usize| bytes.get(i).copied().unwrap_or(0);
    // Skips template text from `i` (just after a backtick or a substitution's `}`): the
    // position after the closing backtick, or after a `${` (then true).
    let template = |mut i: usize| -> (usize, bool) {
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'`' => return (i + 1, false),
                b'$' if at(i + 1) == b'{' => return (i + 2, true),
                _ => i += 1,
            }
        }
        (i, false)
    };
    // For each open `${`, the brace depth its closing `}` returns to template text at.
    let mut substitutions: Vec<usize> = Vec::new();
    let mut braces = 0usize;
    let mut operand_ended = false;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'/' if at(i + 1) == b'/' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if at(i + 1) == b'*' => {
                i = source[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |end| i + 2 + end + 2);
                continue;
            }
            b'/' if !operand_ended => {
                // A regular expression: to its unescaped closing `/` outside a class.
                let mut class = false;
                i += 1;
                while i < bytes.len() && bytes[i] != b'\n' {
                    match bytes[i] {
                        b'\\' => i += 1,
                        b'[' => class = true,
                        b']' => class = false,
                        b'/' if !class => break,
                        _ => {}
                    }
                    i += 1;
                }
                operand_ended = true;
            }
            b'\'' | b'"' => {
                let start = i;
                i += 1;
                loop {
                    match at(i) {
                        _ if i >= bytes.len() => return Some(start),
                        b'\n' | b'\r' => return Some(start),
                        b'\\' if at(i + 1) == b'\r' && at(i + 2) == b'\n' => i += 3,
                        b'\\' => i += 2,
                        q if q == c => break,
                        _ => i += 1,
                    }
                }
                operand_ended = true;
            }
            b'`' | b'}' if c == b'`' || substitutions.last() == Some(&braces) => {
                if c == b'}' {
                    substitutions.pop();
                    braces -= 1;
                }
                let (next, substitution) = template(i + 1);
                if substitution {
                    braces += 1;
                    substitutions.push(braces);
                    operand_ended = false;
                } else {
                    operand_ended = true;
                }
                i = next;
                continue;
            }
            b'{' => {
                braces += 1;
                operand_ended = false;
            }
            b'}' => {
                braces = braces.saturating_sub(1);
                operand_ended = false;
            }
            b')' | b']' => operand_ended = true,
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric()
                        || matches!(bytes[i], b'_' | b'$')
                        || bytes[i] >= 0x80)
                {
                    i += 1;
                }
                // After these keywords an operand starts: a `/` there begins a regex.
                const BEFORE_OPERAND: &[&str] = &[
                    "return",
                    "typeof",
                    "case",
                    "do",
                    "else",
                    "in",
                    "of",
                    "new",
                    "delete",
                    "void",
                    "throw",
                    "instanceof",
                    "yield",
                    "await",
                ];
                operand_ended = !BEFORE_OPERAND.contains(&source.get(start..i).unwrap_or(""));
                continue;
            }
            c if c.is_ascii_whitespace() => {}
            _ => operand_ended = false,
        }
        i += 1;
    }
    None
}

/// TypeScript source → JavaScript (an ES module), decorators lowered with TypeScript's
/// (`experimentalDecorators`) semantics, types gone.
pub fn transpile(file: &str, source: &str) -> Result<String, SyntaxError> {
    let parsed = parse(file, source, true)?;
    let map = parsed.map.clone();
    let mut program = Program::Module(parsed.module);
    let output = GLOBALS.set(&Globals::new(), || {
        HELPERS.set(&Helpers::new(false), || {
            transform(&mut program);
            print(&map, &program, None)
        })
    });
    Ok(output.0)
}

/// Decorators lowered (before the types they may read are stripped), types stripped, helpers
/// inlined, names made unique.
fn transform(program: &mut Program) {
    let unresolved = Mark::new();
    let top_level = Mark::new();
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
        .process(program);
}

/// Prints `program`; with `lines`, also the original line of each printed line (0 if none).
fn print(map: &Lrc<SourceMap>, program: &Program, lines: Option<&mut Vec<u32>>) -> (String,) {
    let mut output = Vec::new();
    let mut mappings = Vec::new();
    {
        let mut emitter = Emitter {
            cfg: Config::default().with_target(EsVersion::Es2022),
            cm: map.clone(),
            comments: None,
            wr: JsWriter::new(map.clone(), "\n", &mut output, Some(&mut mappings)),
        };
        // Printing an AST swc itself built cannot fail but on I/O, and this writes to memory.
        let _ = emitter.emit_program(program);
    }
    let text = String::from_utf8_lossy(&output).into_owned();
    if let Some(lines) = lines {
        lines.clear();
        lines.resize(text.lines().count().max(1), 0);
        for (position, at) in mappings {
            if position.is_dummy() {
                continue;
            }
            let line = map.lookup_char_pos(position).line as u32;
            if let Some(slot) = lines.get_mut(at.line as usize)
                && *slot == 0
            {
                *slot = line;
            }
        }
    }
    (text,)
}

/// One module lowered for the bundle: the body of its factory function, and for each line of it
/// the original line (0 if none).
pub struct Lowered {
    pub code: String,
    pub lines: Vec<u32>,
    /// What the module exports: its own names, and the modules it re-exports whole.
    pub exports: Vec<String>,
    pub exports_all: Vec<String>,
    /// Each name it imports: `(module id, specifier as written, name, file:line:column)`.
    pub imports: Vec<(String, String, String, String)>,
    /// A CommonJS module (`require`, `module.exports`): what it exports is only known when it
    /// runs.
    pub commonjs: bool,
}

/// Rewrites `require("specifier")` calls of a CommonJS module to `__require("<module id>")`.
struct Requires<'r> {
    resolve: &'r mut dyn FnMut(&str, Span) -> anyhow::Result<String>,
    error: Option<anyhow::Error>,
}

impl VisitMut for Requires<'_> {
    fn visit_mut_call_expr(&mut self, call: &mut CallExpr) {
        call.visit_mut_children_with(self);
        let Callee::Expr(callee) = &mut call.callee else {
            return;
        };
        let Expr::Ident(ident) = &mut **callee else {
            return;
        };
        if ident.sym != *"require" || call.args.len() != 1 || call.args[0].spread.is_some() {
            return;
        }
        let Expr::Lit(Lit::Str(text)) = &*call.args[0].expr else {
            return;
        };
        let span = text.span;
        match (self.resolve)(&wtf8(&text.value), span) {
            Ok(id) => {
                ident.sym = "__require".into();
                *call.args[0].expr = Expr::Lit(Lit::Str(Str {
                    span,
                    value: id.as_str().into(),
                    raw: None,
                }));
            }
            Err(error) => {
                self.error.get_or_insert(error);
            }
        }
    }
}

/// The names read off namespace imports (`import * as env from "..."; env.log(..)`): each
/// `(local, property, span)`.
struct NamespaceReads<'n> {
    locals: &'n [String],
    found: Vec<(String, String, Span)>,
}

impl Visit for NamespaceReads<'_> {
    fn visit_member_expr(&mut self, member: &MemberExpr) {
        member.visit_children_with(self);
        if let (Expr::Ident(object), MemberProp::Ident(property)) = (&*member.obj, &member.prop)
            && self.locals.iter().any(|l| *l == *object.sym)
        {
            self.found.push((
                object.sym.to_string(),
                property.sym.to_string(),
                property.span,
            ));
        }
    }
}

/// `const __calimero_default = <expr>;`, for `export default <expr>`.
fn default_binding(expr: Box<Expr>) -> ModuleItem {
    ModuleItem::Stmt(Stmt::Decl(Decl::Var(Box::new(VarDecl {
        span: DUMMY_SP,
        ctxt: Default::default(),
        kind: VarDeclKind::Const,
        declare: false,
        decls: vec![VarDeclarator {
            span: DUMMY_SP,
            name: Pat::Ident(BindingIdent {
                id: Ident::new_no_ctxt("__calimero_default".into(), DUMMY_SP),
                type_ann: None,
            }),
            init: Some(expr),
            definite: false,
        }],
    }))))
}

/// Lowers a parsed module to the body of a bundle factory `function (exports, __require)`:
/// imports become `__require` of the resolved module ids (on the first line), exports become
/// assignments to `exports` at the end. `resolve` maps a specifier to a module id.
pub fn lower(
    parsed: Parsed,
    typescript: bool,
    resolve: &mut dyn FnMut(&str, Span) -> anyhow::Result<String>,
) -> anyhow::Result<Lowered> {
    let Parsed {
        file, map, module, ..
    } = parsed;
    GLOBALS.set(&Globals::new(), || {
        HELPERS.set(&Helpers::new(false), || {
            let mut program = Program::Module(module);
            if typescript {
                transform(&mut program);
            } else {
                let unresolved = Mark::new();
                let top_level = Mark::new();
                (resolver(unresolved, top_level, false), hygiene(), fixer(None))
                    .process(&mut program);
            }
            let Program::Module(mut module) = program else {
                unreachable!("a module stays a module")
            };
            // A JavaScript file with no `import` or `export` is CommonJS (or a plain script,
            // which runs the same way).
            let commonjs = !typescript
                && module
                    .body
                    .iter()
                    .all(|item| matches!(item, ModuleItem::Stmt(_)));
            if commonjs {
                let mut requires = Requires {
                    resolve: &mut *resolve,
                    error: None,
                };
                module.visit_mut_with(&mut requires);
                if let Some(error) = requires.error {
                    return Err(error);
                }
            }
            let mut prologue = String::new();
            let mut epilogue = String::new();
            let mut body = Vec::new();
            let mut imported = 0usize;
            let mut exports: Vec<String> = Vec::new();
            let mut exports_all: Vec<String> = Vec::new();
            let mut imports: Vec<(String, String, String, String)> = Vec::new();
            // `(local, module id, specifier)` of each namespace import.
            let mut namespaces: Vec<(String, String, String)> = Vec::new();
            let located = |span: Span| {
                let p = map.lookup_char_pos(span.lo);
                format!("{file}:{}:{}", p.line, p.col_display + 1)
            };
            for item in module.body {
                let declaration = match item {
                    ModuleItem::Stmt(statement) => {
                        body.push(ModuleItem::Stmt(statement));
                        continue;
                    }
                    ModuleItem::ModuleDecl(declaration) => declaration,
                };
                match declaration {
                    ModuleDecl::Import(import) => {
                        if import.type_only {
                            continue;
                        }
                        let written = wtf8(&import.src.value);
                        let id = resolve(&written, import.src.span)?;
                        let handle = format!("__import{imported}");
                        imported += 1;
                        prologue.push_str(&format!("const {handle} = __import({id:?}); "));
                        for specifier in import.specifiers {
                            match specifier {
                                ImportSpecifier::Named(named) => {
                                    if named.is_type_only {
                                        continue;
                                    }
                                    let name = match &named.imported {
                                        Some(other) => export_name(other),
                                        None => named.local.sym.to_string(),
                                    };
                                    prologue.push_str(&format!(
                                        "const {} = {handle}[{name:?}]; ",
                                        named.local.sym
                                    ));
                                    imports.push((
                                        id.clone(),
                                        written.clone(),
                                        name,
                                        located(named.span),
                                    ));
                                }
                                ImportSpecifier::Default(default) => {
                                    prologue.push_str(&format!(
                                        "const {} = {handle}.default; ",
                                        default.local.sym
                                    ));
                                    imports.push((
                                        id.clone(),
                                        written.clone(),
                                        "default".into(),
                                        located(default.span),
                                    ));
                                }
                                ImportSpecifier::Namespace(all) => {
                                    prologue.push_str(&format!(
                                        "const {} = {handle}; ",
                                        all.local.sym
                                    ));
                                    namespaces.push((
                                        all.local.sym.to_string(),
                                        id.clone(),
                                        written.clone(),
                                    ));
                                }
                            }
                        }
                    }
                    ModuleDecl::ExportDecl(export) => {
                        for name in declared_names(&export.decl) {
                            epilogue.push_str(&format!("exports[{name:?}] = {name}; "));
                            exports.push(name);
                        }
                        body.push(ModuleItem::Stmt(Stmt::Decl(export.decl)));
                    }
                    ModuleDecl::ExportNamed(named) => {
                        if named.type_only {
                            continue;
                        }
                        let source = match &named.src {
                            Some(src) => Some(resolve(&wtf8(&src.value), src.span)?),
                            None => None,
                        };
                        for specifier in named.specifiers {
                            match (specifier, &source) {
                                (ExportSpecifier::Named(spec), _) if spec.is_type_only => {}
                                (ExportSpecifier::Named(spec), None) => {
                                    let local = export_name(&spec.orig);
                                    let name = spec.exported.as_ref().map_or(local.clone(), export_name);
                                    epilogue.push_str(&format!("exports[{name:?}] = {local}; "));
                                    exports.push(name);
                                }
                                (ExportSpecifier::Named(spec), Some(id)) => {
                                    let original = export_name(&spec.orig);
                                    let name = spec.exported.as_ref().map_or(original.clone(), export_name);
                                    epilogue.push_str(&format!(
                                        "exports[{name:?}] = __import({id:?})[{original:?}]; "
                                    ));
                                    exports.push(name);
                                }
                                (ExportSpecifier::Namespace(spec), Some(id)) => {
                                    let name = export_name(&spec.name);
                                    epilogue.push_str(&format!("exports[{name:?}] = __import({id:?}); "));
                                    exports.push(name);
                                }
                                (ExportSpecifier::Default(spec), Some(id)) => {
                                    epilogue.push_str(&format!(
                                        "exports[{:?}] = __import({id:?}).default; ",
                                        spec.exported.sym.to_string()
                                    ));
                                    exports.push(spec.exported.sym.to_string());
                                }
                                (_, None) => anyhow::bail!(
                                    "{}: this form of export is not supported; use `export {{ name }}`",
                                    located(named.span)
                                ),
                            }
                        }
                    }
                    ModuleDecl::ExportAll(all) => {
                        if all.type_only {
                            continue;
                        }
                        let id = resolve(&wtf8(&all.src.value), all.src.span)?;
                        epilogue.push_str(&format!(
                            "for (const [k, v] of Object.entries(__import({id:?}))) if (k !== \"default\") exports[k] = v; "
                        ));
                        exports_all.push(id);
                    }
                    ModuleDecl::ExportDefaultDecl(default) => match default.decl {
                        DefaultDecl::Class(ClassExpr {
                            ident: Some(ident),
                            class,
                        }) => {
                            epilogue.push_str(&format!("exports.default = {}; ", ident.sym));
                            exports.push("default".into());
                            body.push(ModuleItem::Stmt(Stmt::Decl(Decl::Class(ClassDecl {
                                ident,
                                declare: false,
                                class,
                            }))));
                        }
                        DefaultDecl::Fn(FnExpr {
                            ident: Some(ident),
                            function,
                        }) => {
                            epilogue.push_str(&format!("exports.default = {}; ", ident.sym));
                            exports.push("default".into());
                            body.push(ModuleItem::Stmt(Stmt::Decl(Decl::Fn(FnDecl {
                                ident,
                                declare: false,
                                function,
                            }))));
                        }
                        DefaultDecl::TsInterfaceDecl(_) => {}
                        DefaultDecl::Class(class) => {
                            body.push(default_binding(Box::new(Expr::Class(class))));
                            epilogue.push_str("exports.default = __calimero_default; ");
                            exports.push("default".into());
                        }
                        DefaultDecl::Fn(function) => {
                            body.push(default_binding(Box::new(Expr::Fn(function))));
                            epilogue.push_str("exports.default = __calimero_default; ");
                            exports.push("default".into());
                        }
                    },
                    ModuleDecl::ExportDefaultExpr(default) => match *default.expr {
                        Expr::Ident(ident) => {
                            epilogue.push_str(&format!("exports.default = {}; ", ident.sym));
                            exports.push("default".into());
                        }
                        expr => {
                            body.push(default_binding(Box::new(expr)));
                            epilogue.push_str("exports.default = __calimero_default; ");
                            exports.push("default".into());
                        }
                    },
                    other => anyhow::bail!(
                        "{}: this TypeScript module syntax is not supported; use ES `import`/`export`",
                        located(other.span())
                    ),
                }
            }
            // What is read off a namespace import is checked like a named import.
            let locals: Vec<String> = namespaces.iter().map(|(l, _, _)| l.clone()).collect();
            let mut reads = NamespaceReads {
                locals: &locals,
                found: Vec::new(),
            };
            for item in &body {
                item.visit_with(&mut reads);
            }
            for (local, property, span) in reads.found {
                if let Some((_, id, written)) = namespaces.iter().find(|(l, _, _)| *l == local) {
                    imports.push((id.clone(), written.clone(), property, located(span)));
                }
            }
            let program = Program::Module(SwcModule {
                span: module.span,
                body,
                shebang: None,
            });
            let mut lines = Vec::new();
            let (text,) = print(&map, &program, Some(&mut lines));
            let mut code = String::with_capacity(text.len() + prologue.len() + epilogue.len() + 2);
            code.push_str(&prologue);
            code.push('\n');
            code.push_str(&text);
            if !text.ends_with('\n') {
                code.push('\n');
            }
            code.push_str(&epilogue);
            let mut all = vec![0];
            all.extend(lines);
            all.resize(code.lines().count(), 0);
            Ok(Lowered {
                code,
                lines: all,
                exports,
                exports_all,
                imports,
                commonjs,
            })
        })
    })
}

fn wtf8(value: &swc_core::ecma::atoms::Wtf8Atom) -> String {
    value.to_string_lossy().into_owned()
}

fn export_name(name: &ModuleExportName) -> String {
    match name {
        ModuleExportName::Ident(ident) => ident.sym.to_string(),
        ModuleExportName::Str(text) => wtf8(&text.value),
    }
}

/// The names a declaration binds at the top level.
fn declared_names(declaration: &Decl) -> Vec<String> {
    match declaration {
        Decl::Class(class) => vec![class.ident.sym.to_string()],
        Decl::Fn(function) => vec![function.ident.sym.to_string()],
        Decl::Var(var) => var
            .decls
            .iter()
            .filter_map(|d| match &d.name {
                Pat::Ident(binding) => Some(binding.id.sym.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
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

    #[test]
    fn strings_closed_in_every_context_are_not_unterminated() {
        for source in [
            "const a = 'x'; const b = \"it's\";",
            "const re = /'/g; const q = s.replace(/[\"']/g, '');",
            "function f(s: string) { return /\"/.test(s); }",
            "const t = `it's ${\"a\" + `b'${'c'}`} ok`; const u = `${{ a: 1 }.a}'`;",
            "const d = a / b / 'c'; // it's\n/* don't */ const e = (x) / 2;",
            "const s = 'abc\\\ndef';",
            "const n = \"a\\\"b\";",
            "const π = 1 / 'ü'.length;",
        ] {
            assert_eq!(unterminated_string(source), None, "{source}");
        }
    }

    #[test]
    fn an_unterminated_string_is_refused_before_parsing_with_its_position() {
        assert_eq!(unterminated_string("const s = 'abc\nx;"), Some(10));
        assert_eq!(unterminated_string("const s = `${'a}`;"), Some(13));
        assert_eq!(unterminated_string("x = \"abc"), Some(4));
        let Err(error) = parse("src/index.ts", "const a = 1;\nconst s = 'abc\n", true) else {
            panic!("an unterminated string parsed");
        };
        assert_eq!((error.line, error.column), (2, 11), "{error}");
        assert!(error.message.contains("unterminated string"), "{error}");
        // The shape the fuzzer found: nested `<{` with unterminated strings made the parser
        // backtrack exponentially (three times longer per line); now refused at once.
        let hostile = format!("'x{}", " <{\"a\\\"b\n".repeat(40));
        let Err(error) = parse("app.ts", &hostile, true) else {
            panic!("the hostile source parsed");
        };
        assert!(error.message.contains("unterminated string"), "{error}");
    }
}
