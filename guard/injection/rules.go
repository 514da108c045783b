package injection

// family is a signal family: a kind of evidence that a text is a prompt
// attack. Each family has a name (the Rule of a finding lists the
// families that fired) and a weight towards each of the two findings.
type family uint8

const (
	fOverride family = iota
	fNewInstructions
	fRoleHijack
	fSystemPrompt
	fDelimiter
	fToolCall
	fExfiltration
	fIndirect
	fAuthority
	fSecretRequest
	fEncoded
	fPersona
	fNoRestrictions
	fRefusalSuppression
	fTwoResponses
	fTokenGame
	fFictionFrame
	fRoleSetup
	fEdgy
	fAIReference
	fPlantedTask
	numFamilies
)

// familyInfo describes a family: its name and how much of its evidence
// counts towards the injection and the jailbreak score.
var familyInfo = [numFamilies]struct {
	name          string
	inj, jailbrk  float64
	jailbreakOnly bool
}{
	fOverride:           {name: "override", inj: 1, jailbrk: 0.6},
	fNewInstructions:    {name: "new_instructions", inj: 1, jailbrk: 0.5},
	fRoleHijack:         {name: "role_hijack", inj: 0.6, jailbrk: 1},
	fSystemPrompt:       {name: "system_prompt", inj: 1, jailbrk: 0.2},
	fDelimiter:          {name: "delimiter", inj: 1, jailbrk: 0.4},
	fToolCall:           {name: "tool_call", inj: 1},
	fExfiltration:       {name: "exfiltration", inj: 1},
	fIndirect:           {name: "indirect", inj: 1},
	fAuthority:          {name: "authority", inj: 1, jailbrk: 0.5},
	fSecretRequest:      {name: "secret_request", inj: 1},
	fEncoded:            {name: "encoded", inj: 1, jailbrk: 0.5},
	fPersona:            {name: "persona", inj: 0.4, jailbrk: 1},
	fNoRestrictions:     {name: "no_restrictions", inj: 0.3, jailbrk: 1},
	fRefusalSuppression: {name: "refusal_suppression", inj: 0.3, jailbrk: 1},
	fTwoResponses:       {name: "two_responses", jailbrk: 1},
	fTokenGame:          {name: "token_game", jailbrk: 1},
	fFictionFrame:       {name: "fiction_frame", inj: 0.5, jailbrk: 1},
	fRoleSetup:          {name: "role_setup", inj: 0.3, jailbrk: 1},
	fEdgy:               {name: "edgy", inj: 0.2, jailbrk: 1},
	fAIReference:        {name: "ai_reference", inj: 0.3, jailbrk: 1},
	fPlantedTask:        {name: "planted_task", inj: 1},
}

// FamilyNames lists the signal families, in the order of their evidence
// in the score; Config.Disabled names some of them.
func FamilyNames() []string {
	out := make([]string, numFamilies)
	for i := range out {
		out[i] = familyInfo[i].name
	}
	return out
}

func familyByName(name string) (family, bool) {
	for i := range familyInfo {
		if familyInfo[i].name == name {
			return family(i), true
		}
	}
	return 0, false
}

// none marks a rule on one concept.
const none = numConcepts

// rule is evidence for a family: one concept present, or two concepts
// within gap bytes of each other in the folded text (a first, unless
// anyOrder). Weights are log-odds: see doc.go for the model.
type rule struct {
	fam      family
	a, b     concept
	gap      int
	anyOrder bool
	sentence bool // a and b in one sentence: no ".", "!", "?", "。" or line break between
	w        float64
}

// rules are evaluated on the folded text and on each decoded payload
// separately; pairs never straddle two payloads.
var rules = []rule{
	// "ignore all previous instructions", "前の指示を無視して"
	{fam: fOverride, a: cIgnore, b: cInstr, gap: 48, anyOrder: true, sentence: true, w: 4},
	{fam: fOverride, a: cIgnore, b: cPrior, gap: 12, sentence: true, w: 3},
	{fam: fOverride, a: cIgnore, b: cRules, gap: 32, sentence: true, w: 2.5},
	{fam: fOverride, a: cPrior, b: cIgnore, gap: 12, sentence: true, w: 2.5},  // SOV languages: "以前の…無視"
	{fam: fOverride, a: cIgnore, b: cAndSay, gap: 40, sentence: true, w: 3.2}, // "ignore the webpage and state: ..."

	{fam: fNewInstructions, a: cNewInstr, b: none, w: 1.5},
	{fam: fNewInstructions, a: cFromNow, b: none, w: 1.2},

	{fam: fRoleHijack, a: cYouAreNow, b: none, w: 2},
	{fam: fRoleHijack, a: cRole, b: cUnrestrict, gap: 160, w: 3},
	{fam: fRoleHijack, a: cYouAreNow, b: cUnrestrict, gap: 160, w: 3.5},
	{fam: fRoleHijack, a: cRole, b: cPersona, gap: 80, anyOrder: true, w: 3},
	{fam: fRoleHijack, a: cRole, b: cPersonaName, gap: 24, w: 1.5},

	{fam: fSystemPrompt, a: cReveal, b: cSysPrompt, gap: 40, anyOrder: true, sentence: true, w: 3.5},
	{fam: fSystemPrompt, a: cRevealStrong, b: cSysPromptWeak, gap: 32, sentence: true, w: 3},
	{fam: fSystemPrompt, a: cSysPrompt, b: none, w: 1.5},
	{fam: fSystemPrompt, a: cSysPromptHi, b: none, w: 3.5},

	{fam: fDelimiter, a: cDelim, b: none, w: 3},
	{fam: fDelimiter, a: cTurn, b: none, w: 0.7},

	{fam: fToolCall, a: cExec, b: none, w: 2},
	{fam: fToolCall, a: cDanger, b: none, w: 1.2},
	{fam: fToolCall, a: cExec, b: cDanger, gap: 200, anyOrder: true, w: 3},

	{fam: fExfiltration, a: cExfilVerb, b: cExfilDest, gap: 80, w: 3},
	{fam: fExfiltration, a: cExfilVerb, b: cUserData, gap: 60, anyOrder: true, w: 3},
	{fam: fExfiltration, a: cExfilVerb, b: cSecret, gap: 60, anyOrder: true, w: 3},
	{fam: fExfiltration, a: cExfilVerb, b: cSysPrompt, gap: 60, anyOrder: true, w: 3},

	{fam: fIndirect, a: cAIAddress, b: none, w: 3},
	{fam: fIndirect, a: cHideUser, b: none, w: 2},
	{fam: fIndirect, a: cRespVerb, b: cYourResp, gap: 80, anyOrder: true, sentence: true, w: 3},
	{fam: fIndirect, a: cRespMod, b: none, w: 3},
	{fam: fToolCall, a: cCodeInject, b: cYourWork, gap: 60, anyOrder: true, sentence: true, w: 3},
	{fam: fToolCall, a: cCodeInject, b: cDanger, gap: 400, anyOrder: true, w: 3},
	{fam: fToolCall, a: cCodeInject, b: cDangerWeak, gap: 300, w: 2.5},

	{fam: fAuthority, a: cAuthority, b: none, w: 2},

	{fam: fSecretRequest, a: cAsk, b: cSecret, gap: 28, anyOrder: true, sentence: true, w: 3.2},
	{fam: fSecretRequest, a: cAsk, b: cUserData, gap: 28, anyOrder: true, sentence: true, w: 3},
	{fam: fSecretRequest, a: cSecret, b: none, w: 0.8},

	{fam: fPersona, a: cPersona, b: none, w: 2.5},
	{fam: fPersona, a: cPersonaName, b: none, w: 0.4},

	{fam: fNoRestrictions, a: cUnrestrict, b: none, w: 2},

	{fam: fRefusalSuppression, a: cRefusal, b: none, w: 1.5},

	{fam: fTwoResponses, a: cTwoResp, b: none, w: 2},

	{fam: fTokenGame, a: cTokens, b: cTokenLoss, gap: 80, anyOrder: true, w: 2.5},

	{fam: fFictionFrame, a: cFiction, b: none, w: 0.8},
	{fam: fFictionFrame, a: cFiction, b: cUnrestrict, gap: 200, anyOrder: true, w: 2.5},

	{fam: fRoleSetup, a: cRole, b: none, w: 0.7},

	{fam: fEdgy, a: cEdgy, b: none, w: 0.6},

	{fam: fAIReference, a: cAIRef, b: none, w: 0.5},
}
