package server

import (
	"strings"
	"sync"
)

// botAgents are lowercase substrings of the User-Agent headers of crawlers
// and link-preview fetchers: search engines, social networks and chat apps
// that fetch a link when it is posted. Their clicks are recorded with
// "bot": true and count neither in click_count, nor in stats, nor against
// max_clicks. The list names products rather than matching "bot" alone,
// because some phone models carry "bot" in their names, and leaves out apps
// whose in-app browsers people click through (Snapchat, Teams).
var botAgents = []string{
	"googlebot", "google-inspectiontool", "adsbot-google", "mediapartners-google",
	"bingbot", "bingpreview", "msnbot", "slurp", "duckduckbot", "baiduspider",
	"yandexbot", "yandeximages", "sogou", "exabot", "applebot", "petalbot",
	"seznambot", "ahrefsbot", "semrushbot", "mj12bot", "dotbot", "gptbot",
	"ccbot", "claudebot", "perplexitybot", "bytespider", "amazonbot",
	"ia_archiver", "archive.org_bot",
	"facebookexternalhit", "facebookcatalog", "facebot", "meta-externalagent",
	"twitterbot", "linkedinbot", "pinterestbot", "redditbot",
	"slackbot", "slack-imgproxy", "discordbot", "telegrambot", "whatsapp",
	"skypeuripreview", "microsoftpreview", "embedly", "quora link preview",
	"vkshare", "mastodon", "bitlybot", "iframely", "outbrain",
	"nuzzel", "line-poker", "kakaotalk-scrap",
	"google-pagerenderer", "googleother", "chrome-lighthouse", "headlesschrome",
	"uptimerobot", "pingdom", "statuscake",
}

// isBot reports whether a User-Agent header belongs to a crawler or a
// link-preview fetcher.
func isBot(userAgent string) bool {
	if userAgent == "" {
		return false
	}
	ua := strings.ToLower(userAgent)
	for _, token := range botAgents {
		if strings.Contains(ua, token) {
			return true
		}
	}
	return false
}

// maxBotVerdicts bounds the User-Agents that a botVerdicts remembers.
// With headers cut to maxClickField bytes, a full set takes an estimated
// 2.5 MB at most.
const maxBotVerdicts = 4096

// botVerdicts remembers the isBot verdicts of recent User-Agents. Real
// traffic repeats a small set of them, and one check of a browser's
// User-Agent scans every entry of botAgents. When full it clears the map
// and starts again, which costs one check per User-Agent. It is safe for
// concurrent use.
type botVerdicts struct {
	mu       sync.Mutex
	verdicts map[string]bool
}

func (v *botVerdicts) isBot(userAgent string) bool {
	if userAgent == "" {
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if bot, ok := v.verdicts[userAgent]; ok {
		return bot
	}
	if v.verdicts == nil || len(v.verdicts) >= maxBotVerdicts {
		v.verdicts = make(map[string]bool)
	}
	bot := isBot(userAgent)
	// The clone keeps the map from holding on to a larger string that
	// userAgent may be part of.
	v.verdicts[strings.Clone(userAgent)] = bot
	return bot
}
