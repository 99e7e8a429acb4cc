// The syntax tree of a template.

indirect enum Expression {
    case literal(JinjaValue)
    case name(String)
    case list([Expression])
    case dict([(Expression, Expression)])
    case attribute(Expression, String)
    case subscriptOf(Expression, Expression)
    case slice(Expression, start: Expression?, stop: Expression?, step: Expression?)
    case call(Expression, arguments: [Expression], keywords: [(String, Expression)])
    case filter(Expression, name: String, arguments: [Expression], keywords: [(String, Expression)])
    case test(Expression, name: String, arguments: [Expression], negated: Bool)
    case unary(String, Expression)
    case binary(String, Expression, Expression)
    case conditional(then: Expression, condition: Expression, otherwise: Expression?)
}

indirect enum Node {
    case text(String)
    case output(Expression)
    case ifBlock(branches: [(Expression, [Node])], otherwise: [Node])
    case forLoop(targets: [String], iterable: Expression, condition: Expression?, body: [Node], otherwise: [Node])
    case set(target: Expression, value: Expression)
    case setBlock(name: String, body: [Node])
    case macro(name: String, parameters: [(String, Expression?)], body: [Node])
}
