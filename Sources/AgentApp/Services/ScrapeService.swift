import Scraping
import ServiceLifecycle

/// The scrape loops as a service; a graceful shutdown ends them (what was delivered stays in the
/// pipeline for the last window).
struct ScrapeService: Service {
    let scraper: ScrapeManager

    func run() async {
        await withGracefulShutdownHandler {
            await scraper.run()
        } onGracefulShutdown: {
            scraper.finish()
        }
    }
}
