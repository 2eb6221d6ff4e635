package graph

import (
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"
)

// withoutSuggestions are gqlparser's rules that do not append "Did you mean ...?" with names
// from the schema; each replaces the rule of its name without the suffix.
var withoutSuggestions = []core.Rule{
	rules.FieldsOnCorrectTypeRuleWithoutSuggestions,
	rules.KnownArgumentNamesRuleWithoutSuggestions,
	rules.KnownTypeNamesRuleWithoutSuggestions,
	rules.ScalarLeafsRuleWithoutSuggestions,
	rules.ValuesOfCorrectTypeRuleWithoutSuggestions,
}

// noIntrospection refuses introspection as a mistake of the client's, before execution (where
// gqlgen would answer it with a plain error, an internal one to us).
var noIntrospection = core.Rule{Name: "NoIntrospection", RuleFunc: func(observers *core.Events, addError core.AddErrFunc) {
	observers.OnField(func(_ *core.Walker, field *ast.Field) {
		if field.Name == "__schema" || field.Name == "__type" {
			addError(core.Message("introspection is disabled"), core.At(field.Position))
		}
	})
}}

// validationRules returns the validation rules of the server, made anew for each query
// gqlgen validates: gqlparser's own, listing at most maxValidationErrors errors; in
// production without suggestions, which tell the schema to whoever guesses at it, and
// refusing introspection. (The server must also call SetDisableSuggestion(production), or
// gqlgen swaps two suggesting rules back in.)
func validationRules(production bool) func() *rules.Rules {
	return func() *rules.Rules {
		base := rules.NewDefaultRules()
		if production {
			for _, r := range withoutSuggestions {
				base.RemoveRule(strings.TrimSuffix(r.Name, "WithoutSuggestions"))
				base.AddRule(r.Name, r.RuleFunc)
			}
			base.AddRule(noIntrospection.Name, noIntrospection.RuleFunc)
		}
		errs := 0
		capped := rules.NewRules()
		for name, rule := range base.GetInner() {
			capped.AddRule(name, func(observers *core.Events, addError core.AddErrFunc) {
				rule(observers, func(options ...core.ErrorOption) {
					if errs++; errs <= maxValidationErrors {
						addError(options...)
					}
				})
			})
		}
		return capped
	}
}
